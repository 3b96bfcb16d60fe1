/**
 * A campaign's CSV, streamed: decoded from UTF-8 (with or without BOM) or
 * Shift_JIS (what Excel in Japan saves), parsed by csv-parse a record at a
 * time, so memory stays flat however long the file.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { parse } from 'csv-parse';
import iconv from 'iconv-lite';

export type Encoding = 'utf8' | 'shift_jis';

const SAMPLE_BYTES = 64 * 1024;

/** UTF-8 when the sample has a BOM or decodes as UTF-8 (a character cut at its end allowed), else Shift_JIS. */
export function detectEncoding(sample: Buffer): Encoding {
  if (sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf) return 'utf8';
  const strict = new TextDecoder('utf-8', { fatal: true });
  for (let cut = 0; cut <= Math.min(3, sample.length); cut++) {
    try {
      strict.decode(sample.subarray(0, sample.length - cut));
      return 'utf8';
    } catch {
      // a multi-byte character may be cut at the sample's end: try without its last bytes
    }
  }
  return 'shift_jis';
}

export async function encodingOf(file: string): Promise<Encoding> {
  const handle = await open(file, 'r');
  try {
    const sample = Buffer.alloc(SAMPLE_BYTES);
    const { bytesRead } = await handle.read(sample, 0, SAMPLE_BYTES, 0);
    return detectEncoding(sample.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** About how many data rows the file has (its line breaks less the header), for the progress bar. */
export async function approximateRows(file: string): Promise<number> {
  let lines = 0;
  let last = 0x0a;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (const byte of chunk) if (byte === 0x0a) lines++;
    last = chunk.at(-1) ?? last;
  }
  if (last !== 0x0a) lines++; // no line break after the last row
  return Math.max(0, lines - 1);
}

export interface CsvRow {
  /** 1 = the first row after the header */
  row: number;
  values: Record<string, string | undefined>;
}

/**
 * The header (trimmed column names) once known, and the rows one at a time.
 * A row with fewer cells than the header has the missing ones undefined.
 */
export async function* readRows(
  file: string,
  encoding: Encoding,
  onHeader: (columns: string[]) => void,
): AsyncGenerator<CsvRow> {
  const parser = createReadStream(file)
    .pipe(iconv.decodeStream(encoding, { stripBOM: true }))
    .pipe(
      parse({
        columns: (header: string[]) => {
          const columns = header.map((c) => c.trim());
          onHeader(columns);
          return columns;
        },
        bom: true,
        skip_empty_lines: true,
        relax_column_count: true,
      }),
    );
  let row = 0;
  for await (const values of parser as AsyncIterable<Record<string, string>>) {
    row++;
    yield { row, values };
  }
}
