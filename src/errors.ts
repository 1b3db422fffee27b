/**
 * Typed errors. One class per kind of failure; each maps to a CLI exit code and an HTTP status, and each
 * message names the file, tensor or field involved and says what to do.
 */

export type ErrorKind =
  | 'bad-input' // the user's image, flag or request is wrong
  | 'unsupported-model' // a model_type or setting imgtokens does not handle
  | 'bad-checkpoint' // a malformed config.json / safetensors file
  | 'missing-tensor' // a tensor the model needs is absent or mis-shaped
  | 'network' // the hub or an image URL could not be reached
  | 'auth' // 401/403 from the hub
  | 'not-found' // 404 from the hub, or a missing local path
  | 'too-large' // an upload or image over the configured limits
  | 'busy' // the server's queue is full
  | 'forbidden' // a cross-origin request or a Host header the server does not answer to
  | 'unavailable' // the server's model failed to load
  | 'non-finite' // the model produced NaN/Inf (bad weights or config values)
  | 'address-in-use' // the server's port is taken
  | 'closed' // a model used after close()
  | 'internal';

export class ImgTokensError extends Error {
  readonly kind: ErrorKind;
  /** A short hint saying what the user can do, printed after the message. */
  readonly hint?: string;
  constructor(kind: ErrorKind, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.hint = options?.hint;
  }
}

export class BadInputError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('bad-input', message, options);
  }
}
export class UnsupportedModelError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('unsupported-model', message, options);
  }
}
export class CheckpointError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('bad-checkpoint', message, options);
  }
}
export class MissingTensorError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('missing-tensor', message, options);
  }
}
export class NetworkError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('network', message, options);
  }
}
export class AuthError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('auth', message, options);
  }
}
export class NotFoundError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('not-found', message, options);
  }
}
export class TooLargeError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('too-large', message, options);
  }
}
export class BusyError extends ImgTokensError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('busy', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class ForbiddenError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('forbidden', message, options);
  }
}
/** The server's model could not be loaded; the details (paths) stay in the server log. */
export class ModelUnavailableError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('unavailable', message, options);
  }
}
/** NaN or infinity in a stage's output; names the stage. */
export class NonFiniteError extends ImgTokensError {
  readonly stage: string;
  constructor(stage: string, message: string, options?: { hint?: string; cause?: unknown }) {
    super('non-finite', message, options);
    this.stage = stage;
  }
}
export class AddressInUseError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('address-in-use', message, options);
  }
}
/** A model (or its sessions) used after close(). */
export class ClosedError extends ImgTokensError {
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super('closed', message, options);
  }
}

/** CLI exit code per error kind (0 is success, 1 an unexpected crash). */
export const EXIT_CODES: Record<ErrorKind, number> = {
  'bad-input': 2,
  'unsupported-model': 3,
  'bad-checkpoint': 4,
  'missing-tensor': 4,
  network: 5,
  auth: 6,
  'not-found': 7,
  'too-large': 2,
  busy: 8,
  forbidden: 9,
  unavailable: 10,
  'non-finite': 11,
  'address-in-use': 12,
  closed: 13,
  internal: 1,
};

/** HTTP status per error kind, for the server. */
export const HTTP_STATUS: Record<ErrorKind, number> = {
  'bad-input': 400,
  'unsupported-model': 422,
  'bad-checkpoint': 500,
  'missing-tensor': 500,
  network: 502,
  auth: 502,
  'not-found': 404,
  'too-large': 413,
  busy: 503,
  forbidden: 403,
  unavailable: 503,
  'non-finite': 422,
  'address-in-use': 500,
  closed: 500,
  internal: 500,
};

/** One line for a terminal: the message, then the hint if any. */
export function formatError(err: unknown): string {
  if (err instanceof ImgTokensError) return err.hint ? `${err.message}\nhint: ${err.hint}` : err.message;
  if (err instanceof Error) return `unexpected error: ${err.message}`;
  return `unexpected error: ${String(err)}`;
}

/** An error as plain data (what crosses a worker thread or a process boundary), class-specific fields included. */
export interface ErrorData {
  kind?: ErrorKind;
  name?: string;
  message: string;
  hint?: string;
  stack?: string;
  /** NonFiniteError.stage */
  stage?: string;
  /** BusyError.retryAfterSeconds */
  retryAfterSeconds?: number;
}

export function errorToData(e: unknown): ErrorData {
  if (!(e instanceof Error)) return { message: String(e) };
  const d: ErrorData = { name: e.name, message: e.message, stack: e.stack };
  if (e instanceof ImgTokensError) {
    d.kind = e.kind;
    d.hint = e.hint;
    if (e instanceof NonFiniteError) d.stage = e.stage;
    if (e instanceof BusyError) d.retryAfterSeconds = e.retryAfterSeconds;
  }
  return d;
}

type Options = { hint?: string };
/** The class each kind is thrown as (kinds with one class; the others come back as ImgTokensError). */
const BY_KIND: Partial<Record<ErrorKind, (d: ErrorData, o: Options) => ImgTokensError>> = {
  'bad-input': (d, o) => new BadInputError(d.message, o),
  'unsupported-model': (d, o) => new UnsupportedModelError(d.message, o),
  'bad-checkpoint': (d, o) => new CheckpointError(d.message, o),
  'missing-tensor': (d, o) => new MissingTensorError(d.message, o),
  network: (d, o) => new NetworkError(d.message, o),
  auth: (d, o) => new AuthError(d.message, o),
  'not-found': (d, o) => new NotFoundError(d.message, o),
  'too-large': (d, o) => new TooLargeError(d.message, o),
  busy: (d) => new BusyError(d.message, d.retryAfterSeconds ?? 1),
  forbidden: (d, o) => new ForbiddenError(d.message, o),
  unavailable: (d, o) => new ModelUnavailableError(d.message, o),
  'non-finite': (d, o) => new NonFiniteError(d.stage ?? 'unknown', d.message, o),
  'address-in-use': (d, o) => new AddressInUseError(d.message, o),
  closed: (d, o) => new ClosedError(d.message, o),
};

/** errorToData's inverse: the same class (instanceof holds), kind, message, hint, stack and fields. */
export function errorFromData(d: ErrorData): Error {
  const o: Options = { hint: d.hint };
  const err = d.kind
    ? (BY_KIND[d.kind]?.(d, o) ?? new ImgTokensError(d.kind, d.message, o))
    : new Error(d.message);
  if (d.stack) err.stack = d.stack;
  return err;
}
