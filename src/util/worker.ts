/**
 * Starts one of our modules as a worker thread: the compiled `<name>.js` beside the caller in dist/, or, when the
 * caller runs from its TypeScript source (tests, the bench), `<name>.ts` through tsx's loader, registered in the
 * new thread first (a worker does not inherit the parent's --import hooks).
 */
import { Worker } from 'node:worker_threads';

/** `name` is the worker module's file name without extension, relative to `callerUrl` (import.meta.url). */
export function startModuleWorker(callerUrl: string, name: string, workerData?: unknown): Worker {
  if (callerUrl.endsWith('.ts')) {
    const entry = new URL(`./${name}.ts`, callerUrl).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(code, { eval: true, workerData });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
}
