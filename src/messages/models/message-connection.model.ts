import { Field, ObjectType } from '@nestjs/graphql';
import { MaxItems } from '../../common/operation-hints';
import { MessageModel } from './message.model';

@ObjectType('PageInfo')
export class PageInfoModel {
  @Field()
  hasNextPage!: boolean;

  @Field()
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true })
  startCursor!: string | null;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

@ObjectType('MessageEdge')
export class MessageEdgeModel {
  @Field()
  cursor!: string;

  @Field(() => MessageModel)
  node!: MessageModel;
}

@ObjectType('MessageConnection')
export class MessageConnectionModel {
  @MaxItems('page')
  @Field(() => [MessageEdgeModel])
  edges!: MessageEdgeModel[];

  @Field(() => PageInfoModel)
  pageInfo!: PageInfoModel;
}
