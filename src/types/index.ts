/**
 * The library's shared types, below every other layer: the payloads that cross Temporal, requests and their
 * errors, messages, schemas, limits and usage. Types only, so workflow code may import them.
 */
export type * from './answer';
export type * from './limits';
export type * from './messages';
export type * from './payloads';
export type * from './requests';
export type * from './schema';
export type * from './usage';
