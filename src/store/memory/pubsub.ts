import { SubscriberRegistry } from '../subscriber-registry.js';
import type { PubSub } from '../types.js';
import type { MemoryContext } from './context.js';

export class MemoryPubSub implements PubSub {
  private readonly subscribers = new SubscriberRegistry();

  constructor(private readonly context: MemoryContext) {}

  async publish(channel: string, message: string): Promise<void> {
    this.context.assertOpen();
    this.subscribers.deliver(channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.context.assertOpen();
    const remove = this.subscribers.add(channel, onMessage);
    return async () => {
      remove();
    };
  }

  close(): void {
    this.subscribers.clear();
  }
}
