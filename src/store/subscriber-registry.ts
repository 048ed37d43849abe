/**
 * Local fan-out of pub/sub messages to the handlers subscribed in this process, shared by both stores.
 *
 * Handlers run on a microtask of their own, never inside the transport's receive path: a throwing
 * handler surfaces as an uncaught error instead of breaking the connection's reply parsing, and a
 * message is never delivered to a handler that unsubscribed before the delivery ran.
 */
export class SubscriberRegistry {
  private readonly channels = new Map<string, Set<(message: string) => void>>();

  /**
   * Adds a handler and returns its removal, which answers true when it removed the channel's last
   * handler (the transport may then unsubscribe).
   */
  add(channel: string, onMessage: (message: string) => void): () => boolean {
    let handlers = this.channels.get(channel);
    if (!handlers) {
      handlers = new Set();
      this.channels.set(channel, handlers);
    }
    // A wrapper, so the same function subscribed twice is two independent subscriptions.
    const handler = (message: string) => onMessage(message);
    handlers.add(handler);
    const set = handlers;
    return () => {
      if (!set.delete(handler) || set.size > 0) return false;
      this.channels.delete(channel);
      return true;
    };
  }

  deliver(channel: string, message: string): void {
    const handlers = this.channels.get(channel);
    if (!handlers) return;
    for (const handler of handlers) {
      queueMicrotask(() => {
        if (handlers.has(handler)) handler(message);
      });
    }
  }

  clear(): void {
    for (const handlers of this.channels.values()) handlers.clear();
    this.channels.clear();
  }
}
