/**
 * The smoke's throwaway customer: fake secrets by default (they open nothing, so an app that exits when
 * Telegram refuses its token fails verify), or a test bot's real ones from `--customer FILE`, a JSON file
 * shaped like the body of PUT /v1/customers/{id}. The values are never printed; errors name fields only.
 */
import { registrationSchema } from "../api/routes/customers.ts";
import type { CustomerSecrets } from "../domain/customers.ts";
import { fakeCustomerSecrets } from "./demo-customer.ts";

export async function smokeCustomerSecrets(file: string | undefined): Promise<CustomerSecrets> {
  if (file === undefined) return fakeCustomerSecrets("smoke");
  const text = await Bun.file(file)
    .text()
    .catch((err: NodeJS.ErrnoException) => {
      throw new Error(`--customer: cannot read ${file} (${err.code ?? err.message})`);
    });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`--customer: ${file} is not JSON`);
  }
  const parsed = registrationSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const fields = parsed.error.issues.map((issue) => issue.path.join(".") || "(file)");
  throw new Error(
    `--customer: ${file} is not a PUT /v1/customers body (telegramBotToken, ownerTelegramUserId, claude{…}); ` +
      `bad fields: ${[...new Set(fields)].join(", ")}`,
  );
}
