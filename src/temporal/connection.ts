/** Where Temporal is: `TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE`, else the local default. */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE } from '../defaults';

/** The Temporal server's address: `TEMPORAL_ADDRESS`, else the local default. */
export function temporalAddress(): string {
  return process.env.TEMPORAL_ADDRESS || DEFAULT_ADDRESS;
}

/** The Temporal namespace: `TEMPORAL_NAMESPACE`, else `default`. */
export function temporalNamespace(): string {
  return process.env.TEMPORAL_NAMESPACE || DEFAULT_NAMESPACE;
}

/** A Temporal client for `address` and `namespace` (`TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE`, else local). */
export async function connectClient(address = temporalAddress(), namespace = temporalNamespace()): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace });
}

/** A worker's connection to Temporal at `address` (`TEMPORAL_ADDRESS`, else local). */
export async function connectWorker(address = temporalAddress()): Promise<NativeConnection> {
  return NativeConnection.connect({ address });
}
