/**
 * `promise`, or a rejection `<what> timed out after <ms>ms` when it has not settled within `ms`
 * (the timer is cleared either way). For client calls that take no timeout or abort signal of
 * their own (the Kubernetes client's list, watch and Lease calls); the call itself is not cancelled.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
