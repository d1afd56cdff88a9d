// The API's error body, `{"error": {"code", "message", "details": [{"field", "description"}]}}`,
// as a value the order form can put on its fields.

export interface FieldViolation {
  field: string;
  description: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldViolation[] = [],
  ) {
    super(message);
  }

  /** field name → the server's description, for each field the server named. */
  fieldErrors(): Map<string, string> {
    const fields = new Map<string, string>();
    for (const d of this.details) {
      if (d.field && !fields.has(d.field)) fields.set(d.field, d.description || this.message);
    }
    return fields;
  }
}

/** The ApiError for a failed response's status and body (whatever shape it has). */
export function apiError(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } })
    ?.error;
  if (!error || typeof error !== "object") {
    return new ApiError(status, `HTTP_${status}`, `the server answered ${status}`);
  }
  const details = Array.isArray(error.details)
    ? error.details.filter(
      (d): d is FieldViolation => typeof d === "object" && d !== null && "field" in d,
    )
    : [];
  return new ApiError(
    status,
    typeof error.code === "string" ? error.code : `HTTP_${status}`,
    typeof error.message === "string" ? error.message : `the server answered ${status}`,
    details,
  );
}
