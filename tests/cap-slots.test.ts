/**
 * The frequency cap's slots (src/lib/store/cap.ts) against an in-memory Sync that answers as Sync
 * does (54301 on a taken name, 54103 on a moved revision, 404): sends count from their send time,
 * and a repeated give-back never removes what another request took since (issue 29, finding 7).
 */
import { SyncError, type SyncClient } from '../src/lib/clients/sync';
import type { FrequencyCap } from '../src/lib/config';
import { FrequencySlots } from '../src/lib/store/cap';

class MemorySync {
  docs = new Map<string, { data: unknown; revision: number }>();
  deletes = 0;
  async fetchDocument(name: string) {
    const d = this.docs.get(name);
    if (!d) throw new SyncError(404, 20404, 'not found');
    return { data: structuredClone(d.data), revision: String(d.revision) };
  }
  async createDocument(name: string, data: unknown) {
    if (this.docs.has(name)) throw new SyncError(409, 54301, 'Unique name already exists');
    this.docs.set(name, { data: structuredClone(data), revision: 0 });
    return { data, revision: '0' };
  }
  async updateDocument(name: string, data: unknown, opts: { ifMatch?: string } = {}) {
    const d = this.docs.get(name);
    if (!d) throw new SyncError(404, 20404, 'not found');
    if (opts.ifMatch !== undefined && opts.ifMatch !== String(d.revision))
      throw new SyncError(412, 54103, 'The revision of the Document does not match');
    d.data = structuredClone(data);
    d.revision++;
    return { data, revision: String(d.revision) };
  }
  async removeDocument(name: string) {
    this.deletes++;
    this.docs.delete(name);
  }
}

const HOUR = 3_600_000;
const cap: FrequencyCap = { limit: 2, windowMs: HOUR, text: '2/1h' };
const T0 = Date.parse('2026-12-06T00:00:00Z');

function slotsOn(sync: MemorySync) {
  return new FrequencySlots(sync as unknown as SyncClient);
}

test('a give-back sent again after another request took the slot leaves that request its slot', async () => {
  const sync = new MemorySync();
  const slots = slotsOn(sync);
  // A gets both slots at once (every slot is created at once), keeps slot 0 and gives slot 1 back
  const a = await slots.take('u', 'A', cap, T0);
  expect(a.slot).toBe(0);
  if (a.slot !== undefined) await a.freeing;
  // B takes slot 1
  const b = await slots.take('u', 'B', cap, T0 + 1000);
  expect(b.slot).toBe(1);
  // A's give-back of slot 1 arrives again (its answer was lost, so it was sent again)
  await slots.free('u', 'A', [1], cap, T0 + 2000);
  // B still holds slot 1: a third send in the hour is refused
  expect((await slots.take('u', 'C', cap, T0 + 3000)).slot).toBeUndefined();
  expect(sync.deletes).toBe(0); // never a delete: Sync's DELETE takes no If-Match
});

test('sends count from their send time; /cancel gives a hold back', async () => {
  const sync = new MemorySync();
  const slots = slotsOn(sync);
  const later = T0 + 70 * HOUR;
  expect((await slots.take('u', 'L1', cap, T0, later)).slot).toBeDefined();
  expect((await slots.take('u', 'L2', cap, T0, later)).slot).toBeDefined();
  // the hour around 70 h is full; now is not
  expect((await slots.take('u', 'L3', cap, T0, later + HOUR / 2)).slot).toBeUndefined();
  expect((await slots.take('u', 'N1', cap, T0)).slot).toBeDefined();
  expect((await slots.take('u', 'N2', cap, T0 + 1000)).slot).toBeDefined();
  const full = await slots.take('u', 'N3', cap, T0 + 2000);
  expect(full).toEqual({ freeAt: new Date(T0 + HOUR).toISOString() });
  await slots.cancel('u', 'N2', cap, T0 + 3000);
  expect((await slots.take('u', 'N4', cap, T0 + 4000)).slot).toBeDefined();
});
