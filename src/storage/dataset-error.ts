/** A dataset that cannot be read as rows (missing, unsupported, corrupt): the message names the file. */
export class DatasetError extends Error {
  override name = 'DatasetError';
}
