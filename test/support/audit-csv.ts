/**
 * An RFC 4180 reader, strict enough to catch a writer that gets quoting
 * wrong: fields in double quotes may hold commas, CR/LF and `""`; a quote
 * anywhere else in a field, or a quoted field followed by anything but a
 * comma or a line end, is an error. Lines end with LF or CRLF; a final line
 * end is optional.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`CSV: ${what} at offset ${i} (row ${rows.length + 1}, field ${row.length + 1})`);
  };
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        if (i >= text.length) fail('an unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        field += text[i];
        i += 1;
      }
      if (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') fail('text after a closing quote');
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        if (text[i] === '"') fail('a quote in an unquoted field');
        field += text[i];
        i += 1;
      }
    }
    row.push(field);
    if (text[i] === ',') {
      i += 1;
      // An empty last field at the very end of the text still ends its row.
      if (i === text.length) {
        row.push('');
        rows.push(row);
      }
      continue;
    }
    if (text[i] === '\r') {
      if (text[i + 1] !== '\n') fail('a bare CR');
      i += 1;
    }
    if (text[i] === '\n' || i === text.length) {
      i += 1;
      rows.push(row);
      row = [];
    }
  }
  return rows;
}
