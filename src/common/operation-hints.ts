import { Extensions } from '@nestjs/graphql';
import type { GraphQLField } from 'graphql';

/**
 * What a feature declares about its fields for the GraphQL pipeline (src/graphql), next to the field itself:
 * the pipeline reads these extensions and never names a feature's fields.
 */
export interface OperationHints {
  /**
   * A list field: the most items it may return, counted by the complexity rule. `'page'` for a list whose length
   * is the page its enclosing paginated field asked for, already counted there.
   */
  maxItems?: number | 'page';
  /** A paginated field: how many items its `first` / `last` asks for when absent, and the most it allows. */
  page?: { defaultItems: number; maxItems: number };
  /**
   * A subscription whose events are immutable and the same for every subscriber (a personal value travels as a
   * SharedEvent's personal part), so one execution and one encoding per event and selection serve them all.
   */
  sharedEvents?: boolean;
  /**
   * A field whose value is the subscriber's own in an otherwise shared event (an unread count): a shared encoding
   * leaves its place open and fills it per subscriber from the SharedEvent's personal value `<Type>.<field>`.
   */
  personal?: boolean;
}

/** A list field that returns at most `count` items (or exactly the enclosing page's, with `'page'`). */
export const MaxItems = (count: number | 'page') => Extensions({ maxItems: count } satisfies OperationHints);

/** A paginated field: `first` / `last` pick how many items, `defaultItems` when neither is given. */
export const Paginated = (defaultItems: number, maxItems: number) =>
  Extensions({ page: { defaultItems, maxItems } } satisfies OperationHints);

/** A subscription whose events may share one execution and one encoding per selection (see the fastlane). */
export const SharedEvents = () => Extensions({ sharedEvents: true } satisfies OperationHints);

/** A field whose value differs per subscriber of a shared event (see OperationHints.personal). */
export const Personal = () => Extensions({ personal: true } satisfies OperationHints);

export function hintsOf(field: GraphQLField<unknown, unknown> | undefined): OperationHints {
  return (field?.extensions ?? {}) as OperationHints;
}
