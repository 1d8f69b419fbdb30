import { BadInputError } from './errors';

export interface TextRule {
  min: number;
  max: number;
  /** Trim surrounding white space before measuring (default true). */
  trim?: boolean;
}

/**
 * Validates client text: surrounding white space trimmed, length within bounds, and storable: PostgreSQL text
 * cannot hold NUL, and a lone UTF-16 surrogate would be silently replaced, so both are refused up front.
 * Returns the problem, or the cleaned value.
 */
export function checkText(field: string, value: string, rule: TextRule): { value: string } | { problem: string } {
  const cleaned = rule.trim === false ? value : value.trim();
  if (cleaned.length < rule.min || cleaned.length > rule.max) {
    return { problem: `${field} must be ${rule.min}-${rule.max} characters` };
  }
  if (cleaned.includes('\u0000') || !cleaned.isWellFormed()) {
    return { problem: `${field} must be valid text without NUL characters` };
  }
  return { value: cleaned };
}

/** checkText that throws BAD_USER_INPUT. */
export function requireText(field: string, value: string, rule: TextRule): string {
  const result = checkText(field, value, rule);
  if ('problem' in result) throw new BadInputError(result.problem);
  return result.value;
}
