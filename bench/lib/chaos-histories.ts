/**
 * Workflow histories to and from the JSON format of `temporal workflow show --output json`, for the replay files in
 * test/histories/.
 *
 * The SDK's `historyToJSON` / `historyFromJSON` (@temporalio/common/lib/proto-utils) fail here with "type must be a
 * Type": npm installs one copy of protobufjs 8 under @temporalio/common and another under @temporalio/proto (the
 * hoisted protobufjs is a 7.x that another package needs), and protojson's `instanceof Type` check fails across
 * copies. So we try the SDK's functions first, and otherwise use the protojson of the protobufjs copy that
 * @temporalio/proto (whose types we look up) was built with.
 */
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import { dirname } from 'node:path';

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

interface HistoryStatic {
  fromObject(object: unknown): unknown;
}

let sameCopy: { protojson: ProtoJson; type: unknown; History: HistoryStatic } | undefined;

/** protojson and the History type from the protobufjs copy that @temporalio/proto resolves. */
function protoJsonOfProtoPackage() {
  if (sameCopy) return sameCopy;
  // @temporalio/proto is the SDK's own dependency (not ours), reached the way @temporalio/common reaches it.
  const commonDir = dirname(require.resolve('@temporalio/common'));
  const protoDir = dirname(require.resolve('@temporalio/proto/package.json', { paths: [commonDir] }));
  const protoEntry = require.resolve('@temporalio/proto', { paths: [commonDir] });
  /* eslint-disable @typescript-eslint/no-require-imports */
  const protojson = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as ProtoJson;
  const proto = require(protoEntry) as Record<string, unknown>;
  const { patchProtobufRoot } = require(require.resolve('@temporalio/proto/lib/patch-protobuf-root', {
    paths: [protoDir],
  })) as { patchProtobufRoot<T>(root: T): T };
  /* eslint-enable @typescript-eslint/no-require-imports */
  const root = patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown };
  const History = (proto as any).temporal.api.history.v1.History as HistoryStatic;
  sameCopy = { protojson, type: root.lookupType('temporal.api.history.v1.History'), History };
  return sameCopy;
}

const isCopyMismatch = (err: unknown) => err instanceof TypeError && /must be a Type/.test(err.message);

export function historyToJson(history: History): string {
  try {
    return historyToJSON(history);
  } catch (err) {
    if (!isCopyMismatch(err)) throw err;
    const { protojson, type, History } = protoJsonOfProtoPackage();
    return JSON.stringify(protojson.toJson(type, History.fromObject(history)), null, 2);
  }
}

/** Reads JSON written by `historyToJson` or by the Temporal CLI / Web UI (canonical enum names). */
export function historyFromJson(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (err) {
    if (!isCopyMismatch(err)) throw err;
    const { protojson, type } = protoJsonOfProtoPackage();
    const history = protojson.fromJson(type, json, { ignoreUnknownFields: true });
    if (!history) throw new TypeError('invalid history JSON');
    return history as History;
  }
}
