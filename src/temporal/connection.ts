/** Where Temporal is: `TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE`, else the local default. */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

export const DEFAULT_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_TASK_QUEUE = 'temporal-curator';

export function temporalAddress(): string {
  return process.env.TEMPORAL_ADDRESS || DEFAULT_ADDRESS;
}

export function temporalNamespace(): string {
  return process.env.TEMPORAL_NAMESPACE || 'default';
}

export async function connectClient(address = temporalAddress(), namespace = temporalNamespace()): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace });
}

export async function connectWorker(address = temporalAddress()): Promise<NativeConnection> {
  return NativeConnection.connect({ address });
}
