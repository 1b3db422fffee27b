/**
 * Typed config parsing at the boundary, below every other layer (it imports only the errors). config.json omits
 * values equal to the class defaults (PretrainedConfig.to_diff_dict), so every parser built on ConfigReader applies
 * HF's defaults explicitly and says where they come from: the vision towers' in src/graph/towers.ts, the text models'
 * in src/text/models.ts, each family's in src/families/<model_type>/config.ts.
 */
import { CheckpointError } from '../errors.js';

export type Json = Record<string, unknown>;

/** Field readers that fail with the file and field name. */
export class ConfigReader {
  constructor(
    readonly raw: Json,
    readonly where: string,
  ) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }
  num(key: string, dflt?: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) throw new CheckpointError(`${this.where}: missing required field "${key}"`);
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new CheckpointError(`${this.where}: field "${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
  int(key: string, dflt?: number): number {
    const v = this.num(key, dflt);
    if (!Number.isInteger(v))
      throw new CheckpointError(`${this.where}: field "${key}" must be an integer, got ${v}`);
    return v;
  }
  posInt(key: string, dflt?: number): number {
    const v = this.int(key, dflt);
    if (v <= 0) throw new CheckpointError(`${this.where}: field "${key}" must be positive, got ${v}`);
    return v;
  }
  str(key: string, dflt?: string): string {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) throw new CheckpointError(`${this.where}: missing required field "${key}"`);
      return dflt;
    }
    if (typeof v !== 'string')
      throw new CheckpointError(`${this.where}: field "${key}" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
  bool(key: string, dflt: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean')
      throw new CheckpointError(
        `${this.where}: field "${key}" must be true or false, got ${JSON.stringify(v)}`,
      );
    return v;
  }
  numArray(key: string, dflt?: number[]): number[] {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) throw new CheckpointError(`${this.where}: missing required field "${key}"`);
      return dflt;
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) {
      throw new CheckpointError(
        `${this.where}: field "${key}" must be a list of numbers, got ${JSON.stringify(v)}`,
      );
    }
    return v as number[];
  }
  sub(key: string): ConfigReader {
    const v = this.raw[key];
    if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) {
      throw new CheckpointError(`${this.where}: field "${key}" must be an object`);
    }
    return new ConfigReader((v ?? {}) as Json, `${this.where} → ${key}`);
  }
}
