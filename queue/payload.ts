import { z } from "zod";

/** The single broker queue all instance operations travel on; the job name is the operation. */
export const operationsQueueName = "instance-operations";

/** What a job carries: ids only, never secrets. Additive changes only (old jobs may still be queued). */
export const operationPayloadSchema = z.object({
  operationId: z.string().min(1),
  instanceId: z.string().min(1),
  operation: z.string().min(1),
});
export type OperationPayload = z.infer<typeof operationPayloadSchema>;

/** Deterministic broker job id (and operation id) of the seq-th request of `operation` on an instance. */
export function operationJobId(operation: string, instanceId: string, seq: number): string {
  return `${operation}:${instanceId}:${seq}`;
}
