import { performance } from 'node:perf_hooks';
import type {
  AuditStore,
  ConfigStore,
  LoginSessionStore,
  NotBeforeStore,
  OnceStore,
  PubSub,
  RateCounterStore,
  SessionStore,
  Store,
} from './types.js';

/** Receives one report per store operation; `Metrics` implements it. Must not throw. */
export interface StoreObserver {
  /**
   * `operation` is `<sub-store>.<method>` (`sessions.get`, `pubsub.publish`, ...) or `ping`: a fixed set,
   * safe as a metric label. `seconds` is wall time until the promise settled; `failed` when it rejected.
   */
  storeOperation(operation: string, seconds: number, failed: boolean): void;
}

/**
 * The same store, with every operation timed and every rejection counted. No behaviour change: each
 * call goes to `store` with the same arguments and settles with the same value or the same error
 * (rejections are re-thrown untouched). `kind` is the wrapped store's; `close` is passed through untimed.
 * Messages delivered to a `pubsub.subscribe` handler are not operations and are not reported.
 */
export function instrumentStore(store: Store, observer: StoreObserver): Store {
  const timed =
    <A extends unknown[], R>(operation: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const start = performance.now();
      let failed = false;
      try {
        return await call(...args);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        observer.storeOperation(operation, (performance.now() - start) / 1000, failed);
      }
    };

  const { sessions, notBefore, once, loginSessions, rateCounters, config, audit, pubsub } = store;
  // Typed object literals: a method added to an interface and not wrapped here fails to compile. Each
  // call looks the method up when it is made, so a method replaced later (a test's spy) is the one called.
  const instrumentedSessions: SessionStore = {
    create: timed('sessions.create', (record) => sessions.create(record)),
    get: timed('sessions.get', (sid) => sessions.get(sid)),
    revoke: timed('sessions.revoke', (sid, at) => sessions.revoke(sid, at)),
    list: timed('sessions.list', (index, options) => sessions.list(index, options)),
  };
  const instrumentedNotBefore: NotBeforeStore = {
    raise: timed('notBefore.raise', (scope, at, ttlMs) => notBefore.raise(scope, at, ttlMs)),
    get: timed('notBefore.get', (scopes) => notBefore.get(scopes)),
  };
  const instrumentedOnce: OnceStore = {
    putIfAbsent: timed('once.putIfAbsent', (namespace, key, value, ttlMs) =>
      once.putIfAbsent(namespace, key, value, ttlMs),
    ),
    claim: timed('once.claim', (namespace, key, value, ttlMs) => once.claim(namespace, key, value, ttlMs)),
    get: timed('once.get', (namespace, key) => once.get(namespace, key)),
    take: timed('once.take', (namespace, key) => once.take(namespace, key)),
    delete: timed('once.delete', (namespace, key) => once.delete(namespace, key)),
  };
  const instrumentedLoginSessions: LoginSessionStore = {
    put: timed('loginSessions.put', (id, value, ttlMs) => loginSessions.put(id, value, ttlMs)),
    get: timed('loginSessions.get', (id) => loginSessions.get(id)),
    delete: timed('loginSessions.delete', (id) => loginSessions.delete(id)),
  };
  const instrumentedRateCounters: RateCounterStore = {
    increment: timed('rateCounters.increment', (key, windowMs) => rateCounters.increment(key, windowMs)),
    decrement: timed('rateCounters.decrement', (key) => rateCounters.decrement(key)),
    reset: timed('rateCounters.reset', (key) => rateCounters.reset(key)),
  };
  const instrumentedConfig: ConfigStore = {
    get: timed('config.get', (name) => config.get(name)),
    put: timed('config.put', (name, value, expectedVersion) => config.put(name, value, expectedVersion)),
  };
  const instrumentedAudit: AuditStore = {
    append: timed('audit.append', (seal) => audit.append(seal)),
    read: timed('audit.read', (options) => audit.read(options)),
  };
  const instrumentedPubSub: PubSub = {
    publish: timed('pubsub.publish', (channel, message) => pubsub.publish(channel, message)),
    subscribe: timed('pubsub.subscribe', (channel, onMessage) => pubsub.subscribe(channel, onMessage)),
  };
  return {
    kind: store.kind,
    sessions: instrumentedSessions,
    notBefore: instrumentedNotBefore,
    once: instrumentedOnce,
    loginSessions: instrumentedLoginSessions,
    rateCounters: instrumentedRateCounters,
    config: instrumentedConfig,
    audit: instrumentedAudit,
    pubsub: instrumentedPubSub,
    ping: timed('ping', () => store.ping()),
    close: () => store.close(),
  };
}
