/**
 * temporal-curator: durable LLM dataset curation on Temporal.
 *
 * Worker side: define curators, create a worker. Client side: `curate()` a dataset. Both in one process, with a
 * local dev server and the simulator: `startLocalStack()`. Workflow side: import from `temporal-curator/workflow`.
 * Tests: `temporal-curator/simulator`.
 */
export { defineCurator } from './curator';
export type {
  BackendParams,
  ChatMessage,
  ChatRole,
  Curator,
  CuratorDefinition,
  Prompt,
  Provider,
  ReuseContext,
  Row,
  RowType,
  RowTypes,
  ToolDefinition,
  ZodLike,
} from './curator';
export { costUsd, pricesFor, type Prices } from './cost';
export {
  registerProvider,
  providerNames,
  providerPreset,
  type ProviderModule,
  type ProviderBatchApi,
  type ProviderClientOptions,
} from './providers';
export type { MediaLimits } from './providers/provider';
export type { Enforcement } from './limits/pacing';
export { openai, openaiCompatible } from './providers/openai';
export { PROVIDER_PRESETS, type ProviderPreset, type StructuredOutputMethod } from './providers/presets';
export type { RateLimitHeaderDialect } from './providers/header-dialects';
export { anthropic } from './providers/anthropic';
export { classifyError, type ErrorType, type RequestError } from './providers/outcome';
export type { CallOptions, FinishReason, ProviderAnswer, ProviderClient, ProviderRequest } from './providers/types';
// The parts of an answer, documented with it.
export type { ProviderChoice, ProviderToolCall } from './providers/types';
export type { BatchLimits, BatchLine, BatchResult, BatchStatus, ProviderBatchClient } from './providers/batch';
export type { Limits } from './limits/window';
export type { LateWrite, WireGate } from './limits/wire-gate';
export type { JsonSchema } from './schema';
export type * from './types';
export { createActivities, type CuratorActivities } from './activities';
export type { ActivityDeps, ActivityDepsOptions } from './activities/deps';
export type { PlanInput } from './activities/plan';
export { CuratorRegistry } from './registry';
export {
  CacheDirNotWritableError,
  CuratorChangedError,
  CuratorError,
  DamagedRunFileError,
  DatasetError,
  DiskFullError,
  IncompleteResponsesError,
  InputLineError,
  InvalidOptionsError,
  MissingApiKeyError,
  MissingProviderKeyError,
  NON_RETRYABLE_TYPES,
  ParseError,
  PromptError,
  ProviderFailureError,
  UnknownCuratorError,
  WorkerStoppingError,
  WrongApiKeyError,
  WrongWorkerError,
  type CurationErrorType,
  type CuratorErrorType,
  type ProviderFailureType,
  type RowErrorType,
} from './errors';
export { createWorker, curatorWorkflowBundle, workflowsPath, type CuratorWorkerOptions } from './worker';
export { CuratorPlugin, type CuratorPluginOptions } from './plugin';
export {
  curate,
  cancelCuration,
  curationProgress,
  type CurationProgress,
  curationResult,
  CurationError,
  jobWorkflowId,
  startCuration,
  type CurateOptions,
  type CurationResult,
  type DatasetInput,
} from './client';
export { connectClient, connectWorker, temporalAddress, temporalNamespace } from './temporal/connection';
export { installQuietRuntime } from './temporal/runtime';
export { formatSummary } from './cli/summary';
export * from './defaults';
export {
  embeddedTaskQueue,
  endLocalRun,
  signalExitCode,
  startLocalStack,
  type LocalStack,
  type LocalStackOptions,
} from './embedded';
export type { DevServer } from './temporal/dev-server';
export { defaultCacheDir } from './storage/cache-dir';
export { MetadataDb, type RunRecord } from './storage/metadata-db';
export type { FailedRequest } from './activities/finalize';
export { writeParquetFromArrow, type ParquetWriteOptions, type ParquetWriteResult } from './storage/parquet';
