/**
 * Just enough of POSIX shell's quoting to read the arguments of the commands the provisioner sends
 * (remote/shell-quote.ts single-quotes every word): bare words, '…' spans and backslash escapes.
 */

/** The words of one command line; null when a quote is left open (not a line this reader understands). */
export function splitWords(line: string): string[] | null {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const char = line[i] as string;
    if (char === " " || char === "\t") {
      if (word !== null) words.push(word);
      word = null;
    } else if (char === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) return null;
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (char === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[i + 1];
      i++;
    } else {
      word = (word ?? "") + char;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** The first word of `text` that follows `prefix` (e.g. the path after `[ -f `), unquoted; null when absent. */
export function wordAfter(text: string, prefix: string): string | null {
  const start = text.indexOf(prefix);
  if (start === -1) return null;
  const rest = text.slice(start + prefix.length).split("\n", 1)[0] ?? "";
  const quoted = /^(?:'[^']*'|\\.|[^\s;'\\()<>|&])+/.exec(rest)?.[0];
  return quoted === undefined ? null : (splitWords(quoted)?.[0] ?? null);
}

/**
 * `printf %b`'s escapes, as inject.sh decodes its stdin lines: `\0NNN` (octal byte), `\\` and the
 * C escapes; any other byte stands for itself.
 */
export function decodePrintfB(line: string): Buffer {
  const bytes: number[] = [];
  const named: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92 };
  const raw = Buffer.from(line, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i] as number;
    const next = String.fromCharCode(raw[i + 1] ?? 0);
    if (byte !== 0x5c || i + 1 >= raw.length) {
      bytes.push(byte);
    } else if (next === "0") {
      const digits = /^[0-7]{0,3}/.exec(raw.subarray(i + 2, i + 5).toString("latin1"))?.[0] ?? "";
      bytes.push(Number.parseInt(digits || "0", 8) & 0xff);
      i += 1 + digits.length;
    } else if (named[next] !== undefined) {
      bytes.push(named[next]);
      i++;
    } else {
      bytes.push(byte);
    }
  }
  return Buffer.from(bytes);
}
