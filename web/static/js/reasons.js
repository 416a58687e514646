// Why a tile shows no picture, in words an operator understands, from the hub's status
// (`last_error` of fh:status:{id}): unreachable, authentication failed, codec unsupported,
// or a deliberate stop by the field device — distinct from a link that was lost.
import { t } from "./i18n.js";

const RULES = [
  [/^stopped by device$/, "stopped_by_device"],
  [/\b(401|403)\b|unauthori[sz]ed|authenticat|password|credential|forbidden/i, "reason_auth"],
  [/codec|unsupported|not supported|no (usable|sendable) (h\.?264|video)/i, "reason_codec"],
  [/refused|unreachable|no route|timed? ?out|name resolution|not known|reset by peer|eof|closed/i, "reason_unreachable"],
];

/** The text for a status `last_error` ("" when there is none). */
export function reasonText(lastError) {
  const error = String(lastError || "").trim();
  if (!error) return "";
  for (const [pattern, key] of RULES) if (pattern.test(error)) return t(key, { detail: error });
  return error;
}
