/**
 * The library's errors: one family, each member naming its `type`, the string Temporal records as the failure's type
 * and `CurationError.type` reports. Activities throw members of the family; {@link toApplicationFailure} turns them
 * into Temporal failures in one place (the wrapper around every activity), and {@link readJobFailure} reads a job's
 * failure back on the client. Workflow code imports this file too, so it uses `@temporalio/common` only: no Node
 * built-ins.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ApplicationFailureCategory,
  ChildWorkflowFailure,
} from '@temporalio/common';

/**
 * What a job can fail with: the `type` of a {@link CurationError}, and of the Temporal failure the job's workflow
 * ends with. Switch on it to tell what went wrong; the message says the details and what to do.
 */
export type CurationErrorType =
  /** The worker has no curator of the job's name. */
  | 'UnknownCurator'
  /** The worker cannot write its cache directory (permissions, a read-only file system). */
  | 'CacheDirNotWritable'
  /** The dataset cannot be read (missing, not JSON Lines or Arrow, not rows). */
  | 'DatasetError'
  /** An option of the curator or the job is out of range. */
  | 'InvalidOptions'
  /** The worker's environment lacks the provider's API key. */
  | 'MissingApiKey'
  /** A worker of another project (another cache directory) on the same task queue took the job. */
  | 'WrongWorker'
  /** The job was started with another provider key than the worker's. */
  | 'WrongApiKey'
  /** The curator was edited since the job was planned: start the job again to run the new definition. */
  | 'CuratorChanged'
  /** A file the plan wrote into the run folder was torn or edited afterwards. */
  | 'DamagedRunFile'
  /** The disk under the cache directory is full. */
  | 'DiskFull'
  /** A stopping worker handed its unsent requests back; another worker goes on with them. */
  | 'WorkerStopping'
  /** Every request failed for good and `requireAllResponses` is on; everything else is saved. */
  | 'IncompleteResponses'
  /** The job failed for a reason outside this list (its `cause` holds what Temporal reported). */
  | 'JobFailed'
  /** The job was cancelled; its partial dataset is saved. */
  | 'Cancelled'
  | ProviderFailureType;

/**
 * The provider answered in a way every other request would meet too (a bad key, a missing model, no quota, an
 * address that refuses), or, in batch mode, refused a whole provider batch: no retry fixes it, so the job stops.
 */
export type ProviderFailureType =
  | 'AuthenticationFailed'
  | 'PermissionDenied'
  | 'NotFound'
  | 'InsufficientQuota'
  | 'EndpointUnreachable'
  | 'BadRequest'
  | 'RequestTooLarge';

/** Failures of one row, recorded with the row; they never fail a job. */
export type RowErrorType = 'PromptError' | 'ParseError' | 'InputLineError';

/** Every `type` a {@link CuratorError} can have. */
export type CuratorErrorType = CurationErrorType | RowErrorType | 'MissingProviderKey';

/** Whether a retry of the activity that failed can fix it, by type: the family's one list of that. */
const RETRYABLE = {
  UnknownCurator: false,
  CacheDirNotWritable: false,
  DatasetError: false,
  InvalidOptions: false,
  MissingApiKey: false,
  WrongWorker: false,
  WrongApiKey: false,
  CuratorChanged: false,
  DamagedRunFile: false,
  DiskFull: false,
  AuthenticationFailed: false,
  PermissionDenied: false,
  NotFound: false,
  InsufficientQuota: false,
  EndpointUnreachable: false,
  BadRequest: false,
  RequestTooLarge: false,
  // Its requests are not lost: the next attempt of the activity, on another worker, sends them.
  WorkerStopping: true,
  IncompleteResponses: false,
  JobFailed: false,
  Cancelled: false,
  PromptError: false,
  ParseError: false,
  InputLineError: false,
  MissingProviderKey: false,
} as const satisfies Record<CuratorErrorType, boolean>;

/**
 * The failure types no retry can fix, as activity retry policies list them (`nonRetryableErrorTypes`): Temporal then
 * does not retry them even when one reaches it without the non-retryable flag.
 */
export const NON_RETRYABLE_TYPES: readonly CuratorErrorType[] = (Object.keys(RETRYABLE) as CuratorErrorType[]).filter(
  (type) => !RETRYABLE[type]
);

/** Whether `type` is one of the family's (a job's failure may also carry a type of an unexpected error). */
export function isCurationErrorType(type: string | undefined | null): type is CurationErrorType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(RETRYABLE, type);
}

/** The base of every error this library throws on purpose: `type` says which it is. */
export abstract class CuratorError extends Error {
  /** Which error this is; the type of the Temporal failure it becomes. */
  abstract readonly type: CuratorErrorType;

  /** Whether a retry of the activity that threw it may succeed. */
  get retryable(): boolean {
    return RETRYABLE[this.type];
  }
}

/** The worker has no curator of the job's name. */
export class UnknownCuratorError extends CuratorError {
  override name = 'UnknownCurator';
  readonly type = 'UnknownCurator';
}

/** The worker cannot write its cache directory (permissions, a read-only file system). */
export class CacheDirNotWritableError extends CuratorError {
  override name = 'CacheDirNotWritable';
  readonly type = 'CacheDirNotWritable';
}

/** The dataset cannot be read (missing, not JSON Lines or Arrow, not rows). */
export class DatasetError extends CuratorError {
  override name = 'DatasetError';
  readonly type = 'DatasetError';
}

/** An option of the curator or the job is out of range. */
export class InvalidOptionsError extends CuratorError {
  override name = 'InvalidOptions';
  readonly type = 'InvalidOptions';
}

/** The worker's environment lacks the provider's API key. */
export class MissingApiKeyError extends CuratorError {
  override name = 'MissingApiKeyError';
  readonly type = 'MissingApiKey';
}

/** A worker of another project (another cache directory) on the same task queue took the job. */
export class WrongWorkerError extends CuratorError {
  override name = 'WrongWorker';
  readonly type = 'WrongWorker';
}

/** The job was started with another provider key than the worker's: it stops before paying with it. */
export class WrongApiKeyError extends CuratorError {
  override name = 'WrongApiKey';
  readonly type = 'WrongApiKey';
}

/** The curator was edited since the job was planned: start the job again to run the new definition. */
export class CuratorChangedError extends CuratorError {
  override name = 'CuratorChanged';
  readonly type = 'CuratorChanged';
}

/** A file the plan wrote into the run folder was torn or edited afterwards. */
export class DamagedRunFileError extends CuratorError {
  override name = 'DamagedRunFile';
  readonly type = 'DamagedRunFile';
}

/** The disk under the cache directory is full. */
export class DiskFullError extends CuratorError {
  override name = 'DiskFull';
  readonly type = 'DiskFull';
}

/** See {@link ProviderFailureType}: the provider's answer that stops the job. */
export class ProviderFailureError extends CuratorError {
  override name = 'ProviderFailure';
  constructor(
    readonly type: ProviderFailureType,
    message: string
  ) {
    super(message);
  }
}

/** A stopping worker handed its unsent requests back; expected on every gentle stop, so not reported as a warning. */
export class WorkerStoppingError extends CuratorError {
  override name = 'WorkerStopping';
  readonly type = 'WorkerStopping';
}

/** Some requests failed for good and `requireAllResponses` is on; `manifest` (the details) says what was saved. */
export class IncompleteResponsesError extends CuratorError {
  override name = 'IncompleteResponses';
  readonly type = 'IncompleteResponses';
}

/** A row's `prompt()` failed or returned something that is not a prompt; the row fails alone. */
export class PromptError extends CuratorError {
  override name = 'PromptError';
  readonly type = 'PromptError';
}

/** A row's `parse()` failed or returned something that is not rows; the row fails alone. */
export class ParseError extends CuratorError {
  override name = 'ParseError';
  readonly type = 'ParseError';
}

/** An input line that is valid JSON but cannot be taken as a row. */
export class InputLineError extends CuratorError {
  override name = 'InputLineError';
  readonly type = 'InputLineError';
}

/** Some curators being run locally have their provider configured and others not: nothing is faked silently. */
export class MissingProviderKeyError extends CuratorError {
  override name = 'MissingProviderKeyError';
  readonly type = 'MissingProviderKey';
}

/**
 * The Temporal failure for `err`: a member of the family becomes an `ApplicationFailure` of its type, non-retryable
 * unless a retry may fix it; anything else is returned as it is (Temporal converts it, and retries it).
 */
export function toApplicationFailure(err: unknown, details?: unknown[]): unknown {
  if (!(err instanceof CuratorError)) return err;
  return ApplicationFailure.create({
    type: err.type,
    message: err.message,
    nonRetryable: !err.retryable,
    details,
    ...(err instanceof WorkerStoppingError ? { category: ApplicationFailureCategory.BENIGN } : {}),
  });
}

/** Wraps an activity so that whatever it throws goes through `convert`; the wrapper keeps the activity's name. */
export function convertFailures<A extends unknown[], R>(
  activity: (...args: A) => Promise<R>,
  convert: (err: unknown) => unknown
): (...args: A) => Promise<R> {
  const wrapped = async (...args: A) => {
    try {
      return await activity(...args);
    } catch (err) {
      throw convert(err);
    }
  };
  // Temporal registers activities by their function names.
  Object.defineProperty(wrapped, 'name', { value: activity.name });
  return wrapped;
}

/** Wraps an activity so that the family's errors it throws reach Temporal as {@link toApplicationFailure} says. */
export function withApplicationFailures<A extends unknown[], R>(
  activity: (...args: A) => Promise<R>
): (...args: A) => Promise<R> {
  return convertFailures(activity, (err) => toApplicationFailure(err));
}

/** `err` and its causes, outermost first: the one walk down a `cause` chain (bounded, should one loop). */
export function* causeChain(err: unknown): Generator<unknown> {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 32; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

/**
 * The innermost failure under Temporal's wrappers: a child workflow's failure wraps an activity's failure, which
 * wraps what the activity threw.
 */
export function rootCause(err: unknown): unknown {
  let root = err;
  for (const e of causeChain(err)) {
    root = e;
    if (!(e instanceof ChildWorkflowFailure || e instanceof ActivityFailure || e instanceof ApplicationFailure)) break;
  }
  return root;
}

/** The first failure in `err`'s chain that this library raised (of a type, and not to be retried), if any. */
export function ownFailure<F extends { nonRetryable?: unknown; type?: unknown }>(err: unknown): F | undefined {
  for (const e of causeChain(err)) {
    const f = e as F;
    if (f.nonRetryable === true && typeof f.type === 'string') return f;
  }
  return undefined;
}

/** A job's failure as the client reads it: which of the family it is, its message, and its details. */
export interface JobFailure {
  type: CurationErrorType;
  message: string;
  /** The failure's details (a failed job's manifest), or none. */
  details: unknown[];
  /** The Temporal failure it was read from. */
  failure?: ApplicationFailure;
}

/**
 * Reads the failure of a job (the `cause` of the client's `WorkflowFailedError`): the first `ApplicationFailure` in
 * its chain. A type outside the family (an unexpected error of the worker) reads as `JobFailed`.
 */
export function readJobFailure(cause: unknown, fallbackMessage: string): JobFailure {
  for (const e of causeChain(cause)) {
    if (e instanceof ApplicationFailure) {
      return {
        type: isCurationErrorType(e.type) ? e.type : 'JobFailed',
        message: e.message,
        details: e.details ?? [],
        failure: e,
      };
    }
    if (!(e instanceof Error)) break;
  }
  return { type: 'JobFailed', message: fallbackMessage, details: [] };
}
