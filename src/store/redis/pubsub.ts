import { StoreUnavailableError } from '../../errors.js';
import { SubscriberRegistry } from '../subscriber-registry.js';
import type { PubSub } from '../types.js';
import type { RedisConnection } from './connection.js';
import type { RedisKeys } from './keys.js';

/**
 * Publishes on the store's command connection; receives on a dedicated subscriber connection, opened on
 * the first subscribe. After a reconnect ioredis subscribes again by itself; messages published while
 * the connection was down are lost, so consumers bound how long they trust what they cached.
 */
export class RedisPubSub implements PubSub {
  private readonly subscribers = new SubscriberRegistry();
  private subscriber: RedisConnection | undefined;
  private closed = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly openSubscriber: () => RedisConnection,
  ) {}

  async publish(channel: string, message: string): Promise<void> {
    await this.connection.run((redis) => redis.publish(this.keys.channel(channel), message));
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    const subscriber = this.subscriberConnection();
    const name = this.keys.channel(channel);
    const remove = this.subscribers.add(name, onMessage);
    try {
      // Sent for every subscribe (Redis ignores repeats), so each caller resolves once it is active.
      await subscriber.run((redis) => redis.subscribe(name));
    } catch (error) {
      if (remove()) await subscriber.run((redis) => redis.unsubscribe(name)).catch(() => {});
      throw error;
    }
    return async () => {
      if (remove() && !this.closed) await subscriber.run((redis) => redis.unsubscribe(name));
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    await this.subscriber?.close();
  }

  private subscriberConnection(): RedisConnection {
    if (this.closed) throw new StoreUnavailableError('The store is closed');
    if (!this.subscriber) {
      const subscriber = this.openSubscriber();
      subscriber.client.on('message', (channel: string, message: string) =>
        this.subscribers.deliver(channel, message),
      );
      this.subscriber = subscriber;
    }
    return this.subscriber;
  }
}
