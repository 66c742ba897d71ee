/** Quotes one word for a POSIX shell command line (single quotes; embedded ones closed, escaped, reopened). */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
