import { ASTVisitor, GraphQLError, Kind, OperationTypeNode, SelectionSetNode, ValidationContext } from 'graphql';

const CONDITIONAL = new Set(['skip', 'include']);

/**
 * A subscription's root field may not be skipped or included by a directive (the GraphQL specification's rule
 * since 2021; graphql-js 16 lacks it): with `@skip(if: true)` there would be no field to subscribe to, and with a
 * variable graphql-js's own single-root-field rule cannot tell the field and throws instead of reporting. Looks
 * at the root selection through inline fragments and fragment spreads, each fragment once.
 */
export function SubscriptionRootDirectivesRule(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(operation) {
      if (operation.operation !== OperationTypeNode.SUBSCRIPTION) return false;
      const seen = new Set<string>();
      const conditional = (selections: SelectionSetNode): boolean =>
        selections.selections.some((selection) => {
          if (selection.directives?.some((directive) => CONDITIONAL.has(directive.name.value))) return true;
          if (selection.kind === Kind.INLINE_FRAGMENT) return conditional(selection.selectionSet);
          if (selection.kind !== Kind.FRAGMENT_SPREAD || seen.has(selection.name.value)) return false;
          seen.add(selection.name.value);
          const fragment = context.getFragment(selection.name.value);
          return fragment != null && conditional(fragment.selectionSet);
        });
      if (conditional(operation.selectionSet)) {
        context.reportError(
          new GraphQLError("A subscription's root field cannot be skipped or included by @skip or @include", {
            nodes: operation,
          }),
        );
      }
      return false;
    },
  };
}
