import { Field, ID, ObjectType, registerEnumType } from '@nestjs/graphql';
import { MaxItems, Personal } from '../../common/operation-hints';

export enum PresenceEventKind {
  STATE = 'STATE',
  DIFF = 'DIFF',
}
registerEnumType(PresenceEventKind, {
  name: 'PresenceEventKind',
  description: 'a presence subscription sends one STATE, then DIFFs',
  valuesMap: {
    STATE: { description: 'the first event: everyone present now, in presences' },
    DIFF: { description: 'every later event: what changed, in joins and leaves (apply joins before leaves)' },
  },
});

@ObjectType('PresenceMeta', { description: 'one tracked connection of one user in a chat' })
export class PresenceMetaModel {
  @Field(() => ID, { description: 'unique per tracked connection and per update (Phoenix: phx_ref)' })
  ref!: string;

  @Field(() => ID, {
    nullable: true,
    description: 'the ref this meta replaced when it was updated (Phoenix: phx_ref_prev)',
  })
  refPrev!: string | null;

  @Field(() => ID, { description: 'the user this connection is' })
  userId!: string;

  @Field({ description: "the user's first name" })
  firstName!: string;

  /** The viewer's own email only: resolved by PresenceMetaResolver.email. */
  email!: string;

  @Field({ description: 'whether the user is typing on this connection (setTyping)' })
  typing!: boolean;

  @Field({ description: 'when this connection became present' })
  onlineAt!: Date;
}

/** No hard cap on who is present in a chat: its cost is counted as this many users. */
export const PRESENT_USERS_COUNTED = 100;

@ObjectType('Presence', { description: 'one user present in a chat, with one meta per tracked connection' })
export class PresenceModel {
  @Field(() => ID, { description: 'the user id' })
  key!: string;

  // PRESENCE_MAX_METAS_PER_USER's default; a deployment that raises it undercounts.
  @MaxItems(20)
  @Field(() => [PresenceMetaModel], { description: "the user's tracked connections (tabs, devices)" })
  metas!: PresenceMetaModel[];
}

@ObjectType('PresenceEvent', { description: 'an event of a presence subscription: STATE first, then DIFFs' })
export class PresenceEventModel {
  @Field(() => PresenceEventKind, { description: 'STATE or DIFF' })
  kind!: PresenceEventKind;

  @MaxItems(PRESENT_USERS_COUNTED)
  @Field(() => [PresenceModel], { description: 'STATE: everyone present now; DIFF: empty' })
  presences!: PresenceModel[];

  @MaxItems(PRESENT_USERS_COUNTED)
  @Field(() => [PresenceModel], { description: 'DIFF: metas that joined, including the new meta of an update' })
  joins!: PresenceModel[];

  @MaxItems(PRESENT_USERS_COUNTED)
  @Field(() => [PresenceModel], { description: 'DIFF: metas that left, including the old meta of an update' })
  leaves!: PresenceModel[];

  @Personal()
  @Field(() => ID, { nullable: true, description: 'the ref this subscription tracks, when it tracks' })
  selfRef!: string | null;
}
