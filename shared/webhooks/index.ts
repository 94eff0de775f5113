/** What frontends import to check foliosync's status webhooks. */
export {
  HEADER_DELIVERY,
  HEADER_EVENT,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  signStatusWebhook,
  verifyStatusWebhook,
} from "./signature.ts";
