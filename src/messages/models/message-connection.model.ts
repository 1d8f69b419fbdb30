import { Field, ObjectType } from '@nestjs/graphql';
import { MaxItems } from '../../common/operation-hints';
import { MessageModel } from './message.model';

@ObjectType('PageInfo', { description: 'where a page of messages stands in the chat' })
export class PageInfoModel {
  @Field({ description: 'whether newer messages follow this page' })
  hasNextPage!: boolean;

  @Field({ description: 'whether older messages precede this page' })
  hasPreviousPage!: boolean;

  @Field(() => String, {
    nullable: true,
    description: "the oldest message's cursor (pass it as before for the page before); null for an empty page",
  })
  startCursor!: string | null;

  @Field(() => String, {
    nullable: true,
    description: "the newest message's cursor (pass it as after for the page after); null for an empty page",
  })
  endCursor!: string | null;
}

@ObjectType('MessageEdge', { description: 'a message and its cursor' })
export class MessageEdgeModel {
  @Field({ description: "an opaque position: the message's place for after and before" })
  cursor!: string;

  @Field(() => MessageModel, { description: 'the message' })
  node!: MessageModel;
}

@ObjectType('MessageConnection', { description: "a page of a chat's messages (Relay connection)" })
export class MessageConnectionModel {
  @MaxItems('page')
  @Field(() => [MessageEdgeModel], { description: 'the messages of the page, oldest first' })
  edges!: MessageEdgeModel[];

  @Field(() => PageInfoModel, { description: 'whether there is more on either side, and the cursors to get it' })
  pageInfo!: PageInfoModel;
}
