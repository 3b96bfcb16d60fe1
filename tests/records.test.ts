/**
 * The notification record's store against the sandbox's Sync: a record stays one Sync document
 * (16 KiB) whatever is kept in it; events that would not fit wait in a parcel, listed in the
 * outbox, so nothing is lost.
 */
import { SyncClient } from '../src/lib/clients/sync';
import { decodeParcel } from '../src/lib/store/parcels';
import { MAX_RECORD_BYTES, type NotificationRecord, RecordStore } from '../src/lib/store/records';
import { inProcessSandbox } from './setup/in-process-sandbox';

const local = inProcessSandbox();

const event = (i: number) => ({
  type: 'track' as const,
  messageId: `m-${i}`,
  userId: 'u',
  event: 'Notification Sent',
  properties: { notification_id: 'big', pad: 'p'.repeat(700) },
});

test('events that would take a record past its budget wait in a parcel, listed in the outbox: nothing is lost', async () => {
  const store = new RecordStore(new SyncClient(local.config), local.config.authToken);
  const record: NotificationRecord = {
    notificationId: 'big',
    userId: 'u',
    locale: 'ja-JP',
    createdAt: new Date().toISOString(),
    state: 'done',
    steps: [],
    content: { message: 'あ'.repeat(3500), locale: 'ja-JP' }, // 10.5 KB
  };
  await store.createNotification(record);
  await store.deferEvents('big', [event(1), event(2)]); // fits
  await store.deferEvents(
    'big',
    Array.from({ length: 8 }, (_, i) => event(10 + i)),
  ); // would not
  const stored = (await store.readNotification('big'))?.record;
  expect(stored?.deferredEvents?.map((e) => e.messageId)).toEqual(['m-1', 'm-2']);
  expect(Buffer.byteLength(JSON.stringify(stored))).toBeLessThanOrEqual(MAX_RECORD_BYTES);
  const parcels = [...local.sb.state.syncDocuments.values()].filter((d) => d.unique_name?.startsWith('parcel-big-'));
  expect(parcels).toHaveLength(1);
  const parcel = decodeParcel(parcels[0].data);
  expect(parcel?.kind === 'track' && parcel.messages.map((m) => m.messageId)).toEqual(
    Array.from({ length: 8 }, (_, i) => `m-${10 + i}`),
  );
  const listed = [...local.sb.state.syncDocuments.values()]
    .filter((d) => d.unique_name?.startsWith('outbox-'))
    .flatMap((d) => Object.keys((d.data as { ids: Record<string, string> }).ids));
  expect(listed).toEqual(expect.arrayContaining(['big', `parcel:${parcels[0].unique_name}`]));
});
