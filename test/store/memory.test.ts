import { ManualClock } from '../../src/clock.js';
import { createStore } from '../../src/store/index.js';
import { describeStoreConformance } from './conformance.js';

describeStoreConformance('memory', () => {
  const clock = new ManualClock();
  const open = () =>
    createStore(
      { type: 'memory', redis: { url: '', keyPrefix: 'fp:', commandTimeoutMs: 2000 }, auditMaxLength: 1000 },
      { clock },
    );
  return {
    clock,
    elapse: async (ms) => clock.advance(ms),
    open,
    // One process, one memory: a second instance is the same store.
    openPeer: (store) => store,
  };
});
