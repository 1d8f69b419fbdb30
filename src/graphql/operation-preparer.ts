import { Injectable } from '@nestjs/common';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import {
  ExecutionArgs,
  GraphQLError,
  getOperationAST,
  NoSchemaIntrospectionCustomRule,
  OperationDefinitionNode,
} from 'graphql';
import { AppConfig } from '../config/app-config';
import { RequestContext } from '../common/request-context';
import { checkComplexity } from './complexity';
import { depthLimitRule } from './depth-limit.rule';
import { DocumentCache } from './document-cache';

/** An operation as a client sends it, over either transport; nothing in it is trusted yet. */
export interface OperationRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

export type Prepared =
  { args: ExecutionArgs; operation: OperationDefinitionNode } | { errors: readonly GraphQLError[] };

/**
 * Turns a client's request into what graphql-js executes, for the paths that do not go through Apollo's pipeline
 * (graphql-ws, and HTTP's common case in GraphqlHttpHandler): each query text is parsed and validated once, with
 * the limits Apollo applies over HTTP (depth, complexity, and introspection when it is off), so every transport
 * refuses the same operations with the same codes.
 */
@Injectable()
export class OperationPreparer {
  private cache?: DocumentCache;

  constructor(
    private readonly schemaHost: GraphQLSchemaHost,
    private readonly config: AppConfig,
  ) {}

  prepare(request: OperationRequest, contextValue: RequestContext | undefined): Prepared {
    const schema = this.schemaHost.schema;
    const checked = this.documents().check(request.query);
    if ('errors' in checked) return checked;
    const { variables, operationName } = request;
    if (variables != null && !isPlainObject(variables)) return refuse('Variables must be an object', 'BAD_REQUEST');
    if (operationName != null && typeof operationName !== 'string') {
      return refuse('Operation name must be a string', 'BAD_REQUEST');
    }
    const operation = getOperationAST(checked.document, operationName);
    if (!operation) return refuse('Unable to identify the operation to run', 'OPERATION_RESOLUTION_FAILURE');
    const variableValues = variables ?? undefined;
    const tooComplex = checkComplexity(
      schema,
      checked.document,
      operationName,
      variableValues,
      this.config.graphql.maxComplexity,
    );
    if (tooComplex) return { errors: [tooComplex] };
    return {
      operation,
      args: { schema, document: checked.document, operationName, variableValues, contextValue },
    };
  }

  // The schema exists only once the GraphQL module has built it, after this provider is constructed.
  private documents(): DocumentCache {
    const { maxDepth, introspection } = this.config.graphql;
    return (this.cache ??= new DocumentCache(this.schemaHost.schema, [
      depthLimitRule(maxDepth),
      ...(introspection ? [] : [NoSchemaIntrospectionCustomRule]),
    ]));
  }
}

function refuse(message: string, code: string): Prepared {
  return { errors: [new GraphQLError(message, { extensions: { code } })] };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
