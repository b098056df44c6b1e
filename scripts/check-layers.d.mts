/** Types of scripts/check-layers.mjs, for its test. */
export declare const FLOORS: readonly (readonly string[])[];
export declare function analyse(root?: string): { unknown: string[]; upward: string[]; circles: string[] };
