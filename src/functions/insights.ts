import { requireInsightsKey } from '../lib/http/auth';
import { endpoint } from '../lib/http/endpoint';
import { insights } from '../lib/app/insights/endpoint';

/** GET /insights?since=…: engagement per group with intervals, the lift of learned over holdout, per channel. */
export const handler = endpoint('/insights', insights, { auth: requireInsightsKey });
