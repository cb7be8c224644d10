/** Live progress, read with queries: they add nothing to the history, so watching a job costs it nothing. */
import { defineQuery } from '@temporalio/workflow';
import type { Limits } from '../limits/window';
import type { CurationStats } from '../types';

export interface JobProgress {
  curator: string;
  runHash: string;
  parseHash: string;
  totalRequests: number;
  batchCount: number;
  partitions: number;
  partitionsDone: number;
  /** Workflow ids of the partitions running now: query each with `partitionProgressQuery` for finer progress. */
  runningPartitions: string[];
  /** Totals of the finished partitions. */
  finished: CurationStats;
  /** The model's prices, when known: cost so far and projected follow from the tokens. */
  prices?: { inputPerMillion: number; outputPerMillion: number; batch?: boolean };
  /** Rate limits set on the curator; those learned from headers are in the workers' `limits.db` under `rateBucket`. */
  limits?: Limits;
  rateBucket?: string;
  /** The run's folder in the cache: `limits.db` sits in its parent. */
  runDir?: string;
  /** When the job began, in ms since the epoch: the start of its first run, across continue-as-new. */
  startedAt?: number;
  /** Requests per batch activity. */
  batchSize?: number;
}

export interface PartitionProgress {
  fromBatch: number;
  toBatch: number;
  nextBatch: number;
  activeBatches: number;
  /** Totals of this partition's finished batches (since its first run, across continue-as-new). */
  finished: CurationStats;
}

export const jobProgressQuery = defineQuery<JobProgress>('progress');
export const partitionProgressQuery = defineQuery<PartitionProgress>('partitionProgress');
