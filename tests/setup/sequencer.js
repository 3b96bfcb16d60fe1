// Runs the suites in name order, with the sandbox's contract check and the log check last: they read
// what all the others produced.
const Sequencer = require('@jest/test-sequencer').default;

class LogsLastSequencer extends Sequencer {
  sort(tests) {
    const last = (t) => (t.path.endsWith('logs.test.ts') ? 2 : t.path.endsWith('sandbox-contract.test.ts') ? 1 : 0);
    return [...tests].sort((a, b) => last(a) - last(b) || a.path.localeCompare(b.path));
  }
}

module.exports = LogsLastSequencer;
