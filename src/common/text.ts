import { BadInputError } from './errors';

export interface TextRule {
  min: number;
  max: number;
  /** Trim surrounding white space before measuring (default true). */
  trim?: boolean;
}

/**
 * A character a reader can see: anything but white space, format and control characters, and the fillers that
 * render as nothing (zero-width spaces and kin).
 */
const VISIBLE = /[^\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\u2800\u3164\uFFA0]/u;

/**
 * Validates client text: surrounding white space trimmed, length within bounds counted in Unicode code points
 * (an emoji is one character, as a person counts), something visible in it, and storable: PostgreSQL text
 * cannot hold NUL, and a lone UTF-16 surrogate would be silently replaced, so both are refused up front.
 * Returns the problem, or the cleaned value.
 */
export function checkText(field: string, value: string, rule: TextRule): { value: string } | { problem: string } {
  const cleaned = rule.trim === false ? value : value.trim();
  if (!withinCodePoints(cleaned, rule.min, rule.max)) {
    return { problem: `${field} must be ${rule.min}-${rule.max} characters` };
  }
  if (cleaned.includes('\u0000') || !cleaned.isWellFormed()) {
    return { problem: `${field} must be valid text without NUL characters` };
  }
  if (rule.min > 0 && rule.trim !== false && !VISIBLE.test(cleaned)) {
    return { problem: `${field} must have a visible character` };
  }
  return { value: cleaned };
}

/** Whether the text has `min` to `max` code points; counted only when its UTF-16 length leaves it in doubt. */
function withinCodePoints(text: string, min: number, max: number): boolean {
  // A code point is one or two UTF-16 units.
  if (text.length <= max && Math.ceil(text.length / 2) >= min) return true;
  if (text.length > max * 2 || text.length < min) return false;
  const count = codePoints(text);
  return count >= min && count <= max;
}

function codePoints(text: string): number {
  let count = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // The high half of a surrogate pair: the pair is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return count;
}

/** checkText that throws BAD_USER_INPUT. */
export function requireText(field: string, value: string, rule: TextRule): string {
  const result = checkText(field, value, rule);
  if ('problem' in result) throw new BadInputError(result.problem);
  return result.value;
}
