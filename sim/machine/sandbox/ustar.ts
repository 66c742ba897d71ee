/**
 * What to put in an archive at an absolute path, with permission bits (octal, 07777 at most): a regular
 * file's bytes, or a directory (`content` null).
 */
export interface ArchiveEntry {
  path: string;
  mode: number;
  content: Uint8Array | null;
}

const BLOCK = 512;
/** The longest path a ustar header's name field holds; longer ones go in a pax extended header. */
const NAME_FIELD = 100;

/**
 * A POSIX ustar archive of `entries`, in order, as `tar -x` reads it. Owner, group and time stamp are 0:
 * the box's tar is told to ignore them (every file there belongs to its "root", and is written now).
 * Hand-written (about 40 lines) rather than an npm dependency: files and directories are all the box needs.
 */
export function ustarArchive(entries: readonly ArchiveEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const name = Buffer.from(entry.path, "utf8");
    if (name.byteLength > NAME_FIELD) {
      parts.push(...member(Buffer.from("./@PaxHeader"), "x", 0o644, paxRecord("path", name)));
    }
    const [type, content] = entry.content === null ? ["5", new Uint8Array()] : ["0", entry.content];
    parts.push(...member(name.subarray(0, NAME_FIELD), type, entry.mode, content));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  return Buffer.concat(parts);
}

/** A header block, then the content padded to whole blocks. */
function member(name: Uint8Array, type: string, mode: number, content: Uint8Array): Uint8Array[] {
  const header = new Uint8Array(BLOCK);
  header.set(name, 0);
  octal(header, 100, 8, mode);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  octal(header, 124, 12, content.byteLength);
  octal(header, 136, 12, 0);
  header[156] = type.charCodeAt(0);
  header.set(Buffer.from("ustar\u000000"), 257);
  // The checksum is taken with its own field counted as blanks.
  header.fill(0x20, 148, 156);
  octal(
    header,
    148,
    7,
    header.reduce((sum, byte) => sum + byte, 0),
  );
  const padding = (BLOCK - (content.byteLength % BLOCK)) % BLOCK;
  return [header, content, new Uint8Array(padding)];
}

/** Writes `value` as zero-padded octal digits ending in NUL into the field at `offset`. */
function octal(block: Uint8Array, offset: number, width: number, value: number): void {
  block.set(Buffer.from(`${value.toString(8).padStart(width - 1, "0")}\0`), offset);
}

/** A pax record, "LENGTH key=value\n", whose LENGTH counts its own digits. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const rest = ` ${key}=`.length + value.byteLength + 1;
  let length = rest + String(rest).length;
  if (String(length).length !== String(rest).length) length = rest + String(length).length;
  return Buffer.concat([Buffer.from(`${length} ${key}=`), value, Buffer.from("\n")]);
}
