import { join } from 'node:path';

export const ROOT = join(__dirname, '../..');
export const STACK_FILE = join(ROOT, '.build/test-stack.json');
export const LOG_FILE = join(ROOT, '.test-logs/stack.log');
/** where every sandbox of the suite writes its contract verdicts (sandbox/contract.ts) */
export const CONTRACT_DIR = join(ROOT, '.test-logs/contract');
