import {
  ArgumentNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLCompositeType,
  GraphQLError,
  GraphQLField,
  GraphQLSchema,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  SelectionSetNode,
  ValidationContext,
  ValidationRule,
} from 'graphql';
import { hintsOf } from '../common/operation-hints';

/** Marks a fragment whose cost is being worked out, so a cycle (refused by NoFragmentCyclesRule) ends here. */
const IN_PROGRESS = -1;
const INTROSPECTION_FIELDS = new Set(['__schema', '__type']);

/**
 * Refuses an operation whose cost is over `budget`. A field costs 1 plus its children, times the items it may
 * return: a list field the most it declares (`MaxItems`), a paginated field the page it asks for (`first` /
 * `last` as written; given by a variable, the most it allows; absent, its default). A list field that declares
 * no size cannot be costed and refuses the operation rather than pass it. `__typename` counts as a field, so a
 * fragment spread twice at every level costs what its expansion would. Introspection (`__schema`, `__type`) is
 * not counted: its size is the schema's, and the alias and token limits bound how often it can be asked.
 *
 * Our own rule rather than graphql-armor's cost-limit, which counts neither list fields without page arguments
 * nor page sizes given in variables; nor graphql-query-complexity, which expands fragments at every spread.
 * Here each fragment is costed once and reused at every spread, so the work is linear in the document, and the
 * cost does not depend on variable values, so a validated document's cost holds for every request that sends it.
 */
export function complexityRule(budget: number): ValidationRule {
  return (context: ValidationContext) => {
    const schema = context.getSchema();
    const fragmentCosts = new Map<string, number>();
    const uncountable = new Set<string>();

    const fragmentCost = (fragment: FragmentDefinitionNode): number => {
      const name = fragment.name.value;
      const known = fragmentCosts.get(name);
      if (known !== undefined) return Math.max(known, 0);
      fragmentCosts.set(name, IN_PROGRESS);
      const type = schema.getType(fragment.typeCondition.name.value);
      const cost = isCompositeType(type) ? selectionCost(fragment.selectionSet, type) : 0;
      fragmentCosts.set(name, cost);
      return cost;
    };

    const selectionCost = (selectionSet: SelectionSetNode, parent: GraphQLCompositeType): number => {
      let cost = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FRAGMENT_SPREAD) {
          const fragment = context.getFragment(selection.name.value);
          if (fragment) cost += fragmentCost(fragment);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
          if (isCompositeType(type)) cost += selectionCost(selection.selectionSet, type);
        } else {
          const name = selection.name.value;
          if (name === '__typename') {
            cost += 1;
            continue;
          }
          if (INTROSPECTION_FIELDS.has(name)) continue;
          const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
          // An unknown field is reported by FieldsOnCorrectTypeRule.
          if (!field) continue;
          const items = itemsOf(field, selection.arguments ?? []);
          if (items === null) {
            uncountable.add(`${parent.name}.${name}`);
            continue;
          }
          const type = getNamedType(field.type);
          const children =
            selection.selectionSet && isCompositeType(type) ? selectionCost(selection.selectionSet, type) : 0;
          // A leaf list costs its items; anything else 1, plus its children once per item.
          cost += selection.selectionSet ? 1 + items * children : items;
        }
      }
      return cost;
    };

    return {
      OperationDefinition(operation) {
        const root = schema.getRootType(operation.operation);
        if (!root) return;
        const cost = selectionCost(operation.selectionSet, root);
        if (uncountable.size) {
          context.reportError(
            new GraphQLError(`The cost of ${[...uncountable].join(', ')} cannot be computed`, { nodes: [operation] }),
          );
        } else if (cost > budget) {
          context.reportError(
            new GraphQLError(`Operation complexity ${cost} is over the limit of ${budget}`, { nodes: [operation] }),
          );
        }
      },
    };
  };
}

/** The list fields of a schema that declare no size (`Type.field`): operations that select them are refused. */
export function uncountedLists(schema: GraphQLSchema): string[] {
  const found: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields())) {
      if (itemsOf(field, []) === null) found.push(`${type.name}.${field.name}`);
    }
  }
  return found;
}

/** How many times a field's children are counted: null for a list that declares no size. */
function itemsOf(field: GraphQLField<unknown, unknown>, args: readonly ArgumentNode[]): number | null {
  const hints = hintsOf(field);
  if (hints.page) return pageSize(hints.page, args);
  if (!isListType(getNullableType(field.type))) return 1;
  if (hints.maxItems === 'page') return 1;
  return typeof hints.maxItems === 'number' ? hints.maxItems : null;
}

function pageSize(page: { defaultItems: number; maxItems: number }, args: readonly ArgumentNode[]): number {
  let size: number | undefined;
  for (const arg of args) {
    if (arg.name.value !== 'first' && arg.name.value !== 'last') continue;
    // A variable or a value the field will refuse anyway: the most it can return.
    const asked = arg.value.kind === Kind.INT ? Number(arg.value.value) : page.maxItems;
    size = Math.max(size ?? 0, Math.min(Math.max(asked, 0), page.maxItems));
  }
  return size ?? page.defaultItems;
}
