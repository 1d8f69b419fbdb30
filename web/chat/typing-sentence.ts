/**
 * The line above the composer that says who is typing. Past two names a list stops being read and starts being
 * counted, so it turns into "several people".
 */
export function typingSentence(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}
