// Globals the Twilio Functions runtime provides (Twilio.Response, Runtime, …).
// Type-only: nothing is required at run time.
/// <reference types="@twilio-labs/serverless-runtime-types" />
