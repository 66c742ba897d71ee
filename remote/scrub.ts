/** Removes secrets from text that came back from a machine (stderr, journal lines) before it is shown. */

const REDACTED = "[redacted]";
/** Telegram bot tokens, whatever else is known. */
const TELEGRAM_TOKEN = /\d{8,}:[A-Za-z0-9_-]{35,}/g;
/** Long runs of token characters (OAuth tokens, keys, base64 blobs); words and paths rarely reach 32. */
const TOKEN_RUN = /[A-Za-z0-9_+=-]{32,}/g;
/** Shorter known values would blank ordinary words. */
const MIN_KNOWN_SECRET_LENGTH = 6;

/** Replaces each known secret value, then anything shaped like a token, with "[redacted]". */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= MIN_KNOWN_SECRET_LENGTH) out = out.split(secret).join(REDACTED);
  }
  return out.replace(TELEGRAM_TOKEN, REDACTED).replace(TOKEN_RUN, REDACTED);
}

/** Separators of .env and JSON files: what is between them may be a secret value. */
const FIELD_SEPARATORS = /[\s"'=:,{}[\]]+/;
const MIN_PIECE_LENGTH = 8;

/** The values inside a secret file (split at .env/JSON punctuation), for `scrubSecrets`. */
export function secretPieces(content: string): string[] {
  return content.split(FIELD_SEPARATORS).filter((piece) => piece.length >= MIN_PIECE_LENGTH);
}
