/**
 * Lower-case words of a name in any casing: `start_dicom_export_job`,
 * `deleteUser`, `run-query`, `fs.readFile`, `APIGetUser`. Letters and digits
 * of every script are kept, so a name in another script is one or more
 * words the vocabulary simply does not know.
 */
export function splitWords(text: string): string[] {
  return text
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1 $2')
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, '$1 $2')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '')
    .map((word) => word.toLowerCase());
}

/** The first sentence, where descriptions say what a tool does ("Creates…", "Returns…"); the rest is usage notes. */
export function firstSentence(text: string, maxChars: number): string {
  const trimmed = text.trimStart().slice(0, maxChars);
  const end = trimmed.search(/[.!?](\s|$)|\n/);
  return end === -1 ? trimmed : trimmed.slice(0, end);
}

/** Forms to look up for a word of running text, where verbs are inflected: "Returns", "Searches", "Copies". */
export function baseForms(word: string): string[] {
  const forms = [word];
  if (word.endsWith('ies')) forms.push(`${word.slice(0, -3)}y`);
  if (word.endsWith('es')) forms.push(word.slice(0, -2));
  if (word.endsWith('s')) forms.push(word.slice(0, -1));
  return forms;
}
