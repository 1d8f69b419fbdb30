import {
  DocumentNode,
  ExecutionArgs,
  GraphQLSchema,
  ExecutionResult,
  FieldNode,
  FragmentDefinitionNode,
  GraphQLFormattedError,
  GraphQLInterfaceType,
  GraphQLObjectType,
  Kind,
  OperationTypeNode,
  SelectionSetNode,
  createSourceEventStream,
  execute,
  getNamedType,
  getOperationAST,
  isInterfaceType,
  isObjectType,
  subscribe,
  visit,
} from 'graphql';
import { CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import { randomBytes } from 'node:crypto';
import { PushSink, isPushSource } from '../common/async-queue';
import { hintsOf } from '../common/operation-hints';
import { SHARED_EXECUTION, SharedExecution } from '../common/own-value';
import { PersonalValue, SharedEvent } from '../common/shared-event';

/**
 * Fastlane (after Phoenix): a chat event is executed and serialized once per distinct selection set, and the
 * same bytes go to every subscriber that asked for that selection. The per-subscriber work left is a seq check
 * and one WebSocket frame, instead of a graphql-js execution plus JSON.stringify per delivery.
 *
 * It is only sound for a root field whose payload is immutable (a message never changes once committed) and
 * whose result does not depend on who asks, so it applies to subscription fields that declare SharedEvents
 * (common/operation-hints) where they are defined, and only when
 * the selection below the field uses no variables (the arguments of the root field itself may: they pick the
 * stream, not the shape of an event). An event that differs between subscribers in a few string fields only
 * (a presence DIFF's selfRef, an inbox summary's unread count: fields declared Personal) comes as a SharedEvent:
 * encoded once, with each subscriber's values spliced in.
 */
export interface FastlaneTarget {
  /** The graphql-ws operation id the frames answer. */
  operationId: string;
  /** Who the subscriber is: values only their owner may see (own-value.ts) are shown to that viewer alone. */
  viewerId: string | null;
  /** Writes one text message to the subscriber's socket: `head` (UTF-8) then the parts of `body`, as one frame. */
  send(head: string, body: readonly Buffer[]): void;
  /** Formats the errors of an execution the way the normal path would. */
  formatErrors(result: ExecutionResult): readonly GraphQLFormattedError[];
}

/**
 * One eligible (document, operation): its cache key, and the operation compiled to a function (graphql-jit) once
 * the first event needs it; null when graphql-jit could not compile it, and graphql-js executes it instead.
 */
interface Plan {
  key: number;
  compiled?: CompiledQuery | null;
  /** Where the selection has Personal fields: a SharedEvent's encoding leaves those places open. */
  personal: PersonalPlace[];
}

/** A Personal field in a selection: its response path from `data`, and its SharedEvent key `<Type>.<field>`. */
interface PersonalPlace {
  path: string[];
  key: string;
}

type Personal = Readonly<Record<string, PersonalValue>>;

/** A value in a shared encoding that only its owner may see: its JSON for the owner, null for anyone else. */
interface OwnPart {
  owner: string;
  json: Buffer;
}

/**
 * An encoded event's payload as parts: the shared bytes, and between each two of them what `keys` names: a
 * SharedEvent's personal value, or an owned value (none for an event without either, whose one part every
 * subscriber gets as it is).
 */
interface Encoded {
  parts: Buffer[];
  keys: (string | OwnPart)[];
}

/** An event's encoding for one plan: null when its shared execution had errors; a promise while it runs. */
type Encoding = Encoded | null | Promise<Encoded | null>;

export class Fastlane {
  private readonly plans = new WeakMap<DocumentNode, Map<string, Plan | null>>();
  private readonly routes = new WeakMap<ExecutionArgs, { plan: Plan; target: FastlaneTarget }>();
  /** Encoded payloads per event object (a SharedEvent's `shared`): shared by every subscriber it is handed to. */
  private readonly encoded = new WeakMap<object, Map<number, Encoding>>();
  /** Stands in for a personal value while a SharedEvent is encoded: random, so no client can put it in data. */
  private readonly marker = randomBytes(12).toString('hex');
  /** What a shared execution writes for an owned value: the marker, the owner and the value, in JSON-safe text. */
  private readonly sharedExecution: SharedExecution = {
    ownValue: (owner, value) => `${this.marker}~${owner}~${Buffer.from(value).toString('base64url')}`,
  };
  private nextKey = 1;

  /** `onEncode` counts executions, so a test or a dashboard can see the sharing work. */
  constructor(private readonly onEncode: () => void = () => undefined) {}

  /** Marks an operation for the fastlane when it qualifies; returns whether it did. */
  route(args: ExecutionArgs, target: FastlaneTarget): boolean {
    const plan = this.planFor(args.schema, args.document, args.operationName ?? undefined);
    if (!plan) return false;
    this.routes.set(args, { plan, target });
    return true;
  }

  /** graphql-ws's `subscribe`: routed operations take the fastlane, anything else graphql-js's own path. */
  subscribe = async (
    args: ExecutionArgs,
  ): Promise<AsyncGenerator<ExecutionResult> | AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const route = this.routes.get(args);
    if (!route) return subscribe(args);
    // The stream keeps what it needs; the route would otherwise live as long as the arguments.
    this.routes.delete(args);
    const { plan, target } = route;
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    return new FastlaneStream(source[Symbol.asyncIterator](), this, args, plan, target);
  };

  /**
   * @internal for FastlaneStream: the end of one event's next message, from its `payload` value to the closing
   * brace, UTF-8 encoded once and shared by every subscriber with the plan (what differs, the id, comes before;
   * a SharedEvent's personal values go in between the shared parts).
   */
  encodedPayload(
    args: ExecutionArgs,
    plan: Plan,
    target: FastlaneTarget,
    event: unknown,
  ): readonly Buffer[] | Promise<readonly Buffer[]> {
    // This runs once per delivery: the hit path creates no closure (the miss path, once per event and plan, does).
    const personal = event instanceof SharedEvent ? event.personal : undefined;
    const key: unknown = personal ? (event as SharedEvent<object>).shared : event;
    const cached = typeof key === 'object' && key !== null ? this.encoded.get(key)?.get(plan.key) : undefined;
    if (cached === undefined) return this.encode(args, plan, target, event, key, personal);
    if (cached === null) return this.encodeOwn(args, target, event);
    if (!isPromise(cached)) return fill(cached, personal, target.viewerId);
    return this.whenEncoded(cached, args, target, event, personal);
  }

  /**
   * Executes and encodes an event for every subscriber with the plan. The encoding is cached as soon as it is
   * started, as a promise while an asynchronous resolver runs, so subscribers handed the event in the meantime
   * wait for it rather than execute it again.
   */
  private encode(
    args: ExecutionArgs,
    plan: Plan,
    target: FastlaneTarget,
    event: unknown,
    key: unknown,
    personal: Personal | undefined,
  ): readonly Buffer[] | Promise<readonly Buffer[]> {
    this.onEncode();
    // A SharedEvent executes as its shared part; its Personal fields then give way to markers.
    const rootValue = personal ? key : event;
    const result = this.execute(args, plan, rootValue);
    // null: the execution has errors, and each subscriber runs it again alone, by graphql-js, so that errors read
    // as on every other path (and a SharedEvent's with its own values, so no marker shows).
    const shared = (executed: ExecutionResult): Encoded | null => {
      if (executed.errors?.length) return null;
      if (personal) for (const place of plan.personal) this.markPlace(executed.data, place.path, 0, place.key);
      return this.split(JSON.stringify(executed) + '}', personal);
    };
    const encoding = isPromise(result) ? result.then(shared) : shared(result);
    if (typeof key === 'object' && key !== null) {
      let byPlan = this.encoded.get(key);
      if (!byPlan) this.encoded.set(key, (byPlan = new Map<number, Encoding>()));
      byPlan.set(plan.key, encoding);
    }
    if (isPromise(encoding)) return this.whenEncoded(encoding, args, target, event, personal);
    return encoding === null ? this.encodeOwn(args, target, event) : fill(encoding, personal, target.viewerId);
  }

  private async whenEncoded(
    encoding: Promise<Encoded | null>,
    args: ExecutionArgs,
    target: FastlaneTarget,
    event: unknown,
    personal: Personal | undefined,
  ): Promise<readonly Buffer[]> {
    const encoded = await encoding;
    return encoded === null ? this.encodeOwn(args, target, event) : fill(encoded, personal, target.viewerId);
  }

  /**
   * The shared execution of one event. Compiled, it costs a fraction of graphql-js's (which builds an execution
   * context, coerces the variables and walks the selection for every event): 15 µs → 3 µs per event for a chat
   * message's selection, measured alone.
   */
  private execute(args: ExecutionArgs, plan: Plan, rootValue: unknown): ExecutionResult | Promise<ExecutionResult> {
    if (plan.compiled === undefined) {
      const compiled = compileQuery(args.schema, args.document, args.operationName ?? undefined, {
        disablingCapturingStackErrors: true,
      });
      plan.compiled = isCompiledQuery(compiled) ? compiled : null;
    }
    // Shared by every subscriber: values only their owner may see become markers, filled in per subscriber.
    const contextValue = { ...(args.contextValue as object), [SHARED_EXECUTION]: this.sharedExecution };
    return plan.compiled
      ? plan.compiled.query(rootValue, contextValue, args.variableValues)
      : execute({ ...args, contextValue, rootValue });
  }

  private encodeOwn(args: ExecutionArgs, target: FastlaneTarget, event: unknown): Buffer[] | Promise<Buffer[]> {
    const result = execute({ ...args, rootValue: event instanceof SharedEvent ? event.own() : event });
    const encode = (executed: ExecutionResult) => [encodeOne(executed, target)];
    return isPromise(result) ? result.then(encode) : encode(result);
  }

  /** Puts the marker of `key` where `path` leads in an execution's data, in every item of the lists on the way. */
  private markPlace(value: unknown, path: string[], at: number, key: string): void {
    if (Array.isArray(value)) {
      for (const item of value) this.markPlace(item, path, at, key);
      return;
    }
    if (typeof value !== 'object' || value === null || !(path[at] in value)) return;
    const record = value as Record<string, unknown>;
    if (at === path.length - 1) record[path[at]] = this.markerOf(key);
    else this.markPlace(record[path[at]], path, at + 1, key);
  }

  private markerOf(name: string): string {
    return `${this.marker}.${name}`;
  }

  /**
   * Cuts an encoding made with markers into the shared parts, around every place a personal or an owned value
   * goes; an event with neither is one part.
   */
  private split(json: string, personal: Personal = {}): Encoded {
    const places: { at: number; length: number; key: string | OwnPart }[] = [];
    for (const name of Object.keys(personal)) {
      const quoted = JSON.stringify(this.markerOf(name));
      for (let at = json.indexOf(quoted); at !== -1; at = json.indexOf(quoted, at + quoted.length)) {
        places.push({ at, length: quoted.length, key: name });
      }
    }
    // An owned value's marker is `"<marker>~<owner>~<base64url>"`: nothing in it needs escaping, so it ends at the
    // next quote.
    const owned = `"${this.marker}~`;
    for (let at = json.indexOf(owned); at !== -1; at = json.indexOf(owned, at + owned.length)) {
      const end = json.indexOf('"', at + owned.length);
      const [owner, value] = json.slice(at + owned.length, end).split('~');
      const key = { owner, json: Buffer.from(JSON.stringify(Buffer.from(value, 'base64url').toString())) };
      places.push({ at, length: end + 1 - at, key });
    }
    places.sort((a, b) => a.at - b.at);
    const parts: Buffer[] = [];
    let from = 0;
    for (const place of places) {
      parts.push(Buffer.from(json.slice(from, place.at)));
      from = place.at + place.length;
    }
    parts.push(Buffer.from(json.slice(from)));
    return { parts, keys: places.map((place) => place.key) };
  }

  private planFor(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): Plan | null {
    let byName = this.plans.get(document);
    if (!byName) this.plans.set(document, (byName = new Map<string, Plan | null>()));
    const name = operationName ?? '';
    let plan = byName.get(name);
    if (plan === undefined) {
      plan = this.eligible(schema, document, operationName)
        ? { key: this.nextKey++, personal: personalPlaces(schema, document, operationName) }
        : null;
      byName.set(name, plan);
    }
    return plan;
  }

  private eligible(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): boolean {
    const operation = getOperationAST(document, operationName);
    if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) return false;
    const [root, ...others] = operation.selectionSet.selections;
    if (others.length || root?.kind !== Kind.FIELD) return false;
    if (!hintsOf(schema.getSubscriptionType()?.getFields()[root.name.value]).sharedEvents) return false;
    if (root.directives?.length) return false;
    return !usesVariables(root, document);
  }
}

/**
 * The iterator graphql-ws drives. It yields nothing: each event is written to the socket as a pre-encoded frame
 * the moment it arrives, and `next()` settles only when the source ends, so graphql-ws then sends `complete`
 * after the last frame, as it would have. `return()` (the client completed, or the socket closed) ends the source.
 *
 * A source that pushes (every messageAdded stream) gets this object as its sink: each event is framed and
 * written from inside the producer's call, with no promise or microtask per event. Only an event whose
 * execution is asynchronous waits, and every event after it waits behind it, so frames keep the source's order.
 * What that needs is kept in fields rather than closures: one of these lives as long as its subscription.
 */
class FastlaneStream implements AsyncIterableIterator<ExecutionResult>, PushSink<unknown> {
  /**
   * `{"id":…,"type":"next","payload":`: what this subscription's messages start with. Kept as text: a small Buffer
   * held for a subscription's life would pin an 8 KiB slab of Node's buffer pool (idle memory per connection).
   */
  private readonly prefix: string;
  /** Settle the pending `next()` of a pushing source: done when it ends, rejected on the first failure. */
  private resolveNext?: (result: IteratorResult<ExecutionResult>) => void;
  private rejectNext?: (error: Error) => void;
  /** The last asynchronous write not yet made; later events queue behind it. */
  private pending?: Promise<void>;
  private failed = false;

  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly fastlane: Fastlane,
    private readonly args: ExecutionArgs,
    private readonly plan: Plan,
    private readonly target: FastlaneTarget,
  ) {
    this.prefix = `{"id":${JSON.stringify(target.operationId)},"type":"next","payload":`;
  }

  /** Not an async function: for a pushing source, its one promise is all that waits for the subscription's end. */
  next(): Promise<IteratorResult<ExecutionResult>> {
    const source = this.source;
    if (!isPushSource(source)) return this.pull(source);
    return new Promise((resolve, reject) => {
      this.resolveNext = resolve;
      this.rejectNext = reject;
      source.drainTo(this);
    });
  }

  private async pull(source: AsyncIterator<unknown>): Promise<IteratorResult<ExecutionResult>> {
    for (;;) {
      const item = await source.next();
      if (item.done) return { value: undefined, done: true };
      const payload = this.fastlane.encodedPayload(this.args, this.plan, this.target, item.value);
      this.target.send(this.prefix, isPromise(payload) ? await payload : payload);
    }
  }

  /** The source's push. It runs inside the producer's loop over every local subscriber: it never throws. */
  push(event: unknown): void {
    if (this.failed) return;
    try {
      const payload = this.fastlane.encodedPayload(this.args, this.plan, this.target, event);
      if (!this.pending && !isPromise(payload)) {
        this.target.send(this.prefix, payload);
        return;
      }
      const written = (this.pending ?? Promise.resolve())
        .then(() => payload)
        .then((bytes) => this.target.send(this.prefix, bytes));
      this.pending = written;
      written.then(
        () => {
          if (this.pending === written) this.pending = undefined;
        },
        (error: unknown) => this.fail(error),
      );
    } catch (error) {
      this.fail(error);
    }
  }

  /** The source ended: `next()` is done once the writes still pending are made. */
  end(): void {
    if (this.pending) {
      this.pending.then(
        () => this.finish(),
        (error: unknown) => this.fail(error),
      );
    } else this.finish();
  }

  private finish(): void {
    this.resolveNext?.({ value: undefined, done: true });
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.rejectNext?.(error instanceof Error ? error : new Error(String(error)));
    void this.source.return?.();
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    await this.source.return?.();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    await this.source.return?.();
    throw error instanceof Error ? error : new Error(String(error));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Whether the field's selection (through any fragments it spreads) reads a variable. */
function usesVariables(field: FieldNode, document: DocumentNode): boolean {
  if (!field.selectionSet) return false;
  let found = false;
  const fragments = new Set<string>();
  const scan = (node: Parameters<typeof visit>[0]) =>
    visit(node, {
      Variable: () => {
        found = true;
      },
      FragmentSpread: (spread) => {
        fragments.add(spread.name.value);
      },
    });
  scan(field.selectionSet);
  const seen = new Set<string>();
  for (let pending = [...fragments]; pending.length && !found;) {
    const name = pending.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const definition = document.definitions.find(
      (node) => node.kind === Kind.FRAGMENT_DEFINITION && node.name.value === name,
    );
    if (!definition) continue;
    fragments.clear();
    scan(definition);
    pending.push(...fragments);
  }
  return found;
}

/** Every Personal field the operation selects, through fragments and lists, with its path from `data`. */
function personalPlaces(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
): PersonalPlace[] {
  const operation = getOperationAST(document, operationName);
  const subscriptionType = schema.getSubscriptionType();
  if (!operation || !subscriptionType) return [];
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const places: PersonalPlace[] = [];
  const walk = (selectionSet: SelectionSetNode, parent: GraphQLObjectType | GraphQLInterfaceType, path: string[]) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const field = parent.getFields()[selection.name.value];
        if (!field) continue;
        const responsePath = [...path, selection.alias?.value ?? selection.name.value];
        if (hintsOf(field).personal) places.push({ path: responsePath, key: `${parent.name}.${field.name}` });
        const type = getNamedType(field.type);
        if (selection.selectionSet && (isObjectType(type) || isInterfaceType(type))) {
          walk(selection.selectionSet, type, responsePath);
        }
        continue;
      }
      const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value) : selection;
      if (!fragment) continue;
      const condition = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : parent;
      if (isObjectType(condition) || isInterfaceType(condition)) walk(fragment.selectionSet, condition, path);
    }
  };
  walk(operation.selectionSet, subscriptionType, []);
  return places;
}

const NULL = Buffer.from('null');

/**
 * The parts of one subscriber's payload: the shared parts as they are, or with its own values in between (a
 * SharedEvent's personal values; owned values where the subscriber is their owner, null elsewhere).
 */
function fill(encoded: Encoded, personal: Personal | undefined, viewerId: string | null): readonly Buffer[] {
  if (!encoded.keys.length) return encoded.parts;
  const parts: Buffer[] = [encoded.parts[0]];
  for (let i = 0; i < encoded.keys.length; i++) {
    const key = encoded.keys[i];
    const value =
      typeof key === 'string'
        ? Buffer.from(JSON.stringify(personal?.[key] ?? null))
        : key.owner === viewerId
          ? key.json
          : NULL;
    parts.push(value, encoded.parts[i + 1]);
  }
  return parts;
}

/** One subscriber's own encoding of an execution, its errors formatted as the normal path formats them. */
function encodeOne(executed: ExecutionResult, target: FastlaneTarget): Buffer {
  const result = executed.errors?.length ? { ...executed, errors: target.formatErrors(executed) } : executed;
  return Buffer.from(JSON.stringify(result) + '}');
}

function isAsyncIterable(value: ExecutionResult | AsyncIterable<unknown>): value is AsyncIterable<unknown> {
  return typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function';
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Partial<Promise<T>>)?.then === 'function';
}
