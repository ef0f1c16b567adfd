// openapi/admin.yaml is the one description of the admin API: the routes take their request
// validation and response serialization from it, and it is served as JSON. So the document
// cannot promise a field the server does not check, nor the server send one it does not list.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { FastifySchema } from 'fastify';

/** A JSON value of the document; its shape is only known by reading it. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface AdminDocument {
  /** As written, for /api/v1/openapi.json. */
  raw: JsonObject;
  /** Every operation: `METHOD path` (path as in the document). */
  operations(): Array<{ method: string; path: string }>;
  /** Fastify's schema for one operation. */
  routeSchema(method: string, documentPath: string): FastifySchema;
}

/** A file at the package root, found from src/admin (tests) or dist/src/admin (the built server). */
function locate(...relative: string[]): string {
  for (const up of ['../..', '../../..']) {
    const candidate = path.resolve(__dirname, up, ...relative);
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${relative.join('/')} not found above ${__dirname}`);
}

/** The package's version, for /api/status. */
export function serverVersion(): string {
  const manifest = JSON.parse(fs.readFileSync(locate('package.json'), 'utf8')) as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Replaces every local `$ref` by what it points at (the document has no cycles). */
function resolveReferences(node: Json, root: JsonObject): Json {
  if (Array.isArray(node)) return node.map((item) => resolveReferences(item, root));
  if (!isObject(node)) return node;
  const reference = node.$ref;
  if (typeof reference === 'string') {
    let target: Json | undefined = root;
    for (const step of reference.replace(/^#\//, '').split('/')) {
      target = isObject(target) ? target[step.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    }
    if (target === undefined) throw new Error(`openapi/admin.yaml: ${reference} does not resolve`);
    return resolveReferences(target, root);
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, resolveReferences(value, root)]));
}

/** OpenAPI parameters of one location as the object schema Fastify validates. */
function parameterSchema(parameters: Json[], location: string): JsonObject | undefined {
  const chosen = parameters.filter((parameter) => isObject(parameter) && parameter.in === location) as JsonObject[];
  if (chosen.length === 0) return undefined;
  const properties: JsonObject = {};
  const required: string[] = [];
  for (const parameter of chosen) {
    const name = String(parameter.name);
    properties[name] = parameter.schema ?? {};
    if (parameter.required === true) required.push(name);
  }
  return { type: 'object', properties, required, additionalProperties: false };
}

export function loadAdminDocument(file: string = locate('openapi', 'admin.yaml')): AdminDocument {
  const raw = parse(fs.readFileSync(file, 'utf8')) as JsonObject;
  const resolved = resolveReferences(raw, raw) as JsonObject;
  const paths = (resolved.paths ?? {}) as Record<string, JsonObject>;
  return {
    raw,
    operations() {
      return Object.entries(paths).flatMap(([documentPath, item]) =>
        Object.keys(item)
          .filter((key) => ['get', 'put', 'post', 'delete', 'patch', 'head'].includes(key))
          .map((method) => ({ method: method.toUpperCase(), path: documentPath })),
      );
    },
    routeSchema(method, documentPath) {
      const item = paths[documentPath];
      const operation = item?.[method.toLowerCase()];
      if (!item || !isObject(operation)) throw new Error(`openapi/admin.yaml has no ${method} ${documentPath}`);
      const parameters = [
        ...(Array.isArray(item.parameters) ? item.parameters : []),
        ...(Array.isArray(operation.parameters) ? operation.parameters : []),
      ];
      const schema: Record<string, unknown> = {};
      const params = parameterSchema(parameters, 'path');
      const querystring = parameterSchema(parameters, 'query');
      if (params) schema.params = params;
      if (querystring) schema.querystring = querystring;
      const body = isObject(operation.requestBody) && isObject(operation.requestBody.content)
        ? operation.requestBody.content['application/json']
        : undefined;
      if (isObject(body)) schema.body = body.schema;
      const response: Record<string, unknown> = {};
      for (const [status, answer] of Object.entries(isObject(operation.responses) ? operation.responses : {})) {
        if (!isObject(answer)) continue;
        response[status] = { description: answer.description, content: answer.content };
      }
      schema.response = response;
      return schema as FastifySchema;
    },
  };
}

/** `/api/v1/agents/{instance_uid}` as Fastify writes it: `/api/v1/agents/:instance_uid`. */
export function fastifyPath(documentPath: string): string {
  return documentPath.replace(/\{([^}]+)\}/g, ':$1');
}
