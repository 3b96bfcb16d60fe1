// What the two capacity benches share, so that their figures are of the same campaign:
// bench:scale (scale-bench.mjs) sends it over HTTP, bench:batch-cpu (batch-cpu-bench.mjs) in-process.

/** The campaign's notification to user `i`: one email each, its id as the Event Webhook will name it. */
export const campaignNotification = (prefix, i) => ({
  userId: `${prefix}-${i}`,
  email: `${prefix}-${i}@example.jp`,
  message: 'ご予約のお知らせ',
  channel: 'email',
  notificationId: `${prefix}.${i}`,
});

/** run(0) … run(n − 1), `concurrency` at a time. */
export async function pool(n, concurrency, run) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await run(next++);
    }),
  );
}
