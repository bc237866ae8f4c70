// Sends one exception, one message and one transaction with the real @sentry/node SDK to the
// DSN given as the first argument, then prints their event ids as JSON on stdout.
import * as Sentry from "@sentry/node";

const dsn = process.argv[2];
if (!dsn) {
  console.error("usage: node send.mjs <dsn>");
  process.exit(2);
}

Sentry.init({
  dsn,
  environment: "node-e2e",
  release: "node-app@2.0.1",
  tracesSampleRate: 1.0,
  defaultIntegrations: false,
});

Sentry.setUser({ id: "node-user-3", email: "n3@example.com" });
Sentry.setTag("job", "invoices");
Sentry.addBreadcrumb({ category: "job", message: "loading invoices" });

function parseInvoice(text) {
  return JSON.parse(text).amount.toFixed(2);
}

let exceptionId;
try {
  parseInvoice("{}");
} catch (error) {
  exceptionId = Sentry.captureException(error);
}
const messageId = Sentry.captureMessage("invoice 981 could not be mailed", "warning");
await Sentry.startSpan({ name: "GET /invoices", op: "http.server" }, async () => {
  await new Promise((resolve) => setTimeout(resolve, 10));
});
const flushed = await Sentry.flush(10000);
if (!flushed) {
  console.error("flush timed out");
  process.exit(1);
}
console.log(JSON.stringify({ exception_id: exceptionId, message_id: messageId }));
