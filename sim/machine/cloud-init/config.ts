import { parse } from "yaml";
import { z } from "zod";
import { MachineError } from "../errors.ts";

/** The `phone_home` fields cloud-init knows (its `post: all`, the default, is not carried out here). */
const PHONE_HOME_FIELDS = [
  "pub_key_rsa",
  "pub_key_ecdsa",
  "pub_key_ed25519",
  "instance_id",
  "hostname",
  "fqdn",
] as const;

/**
 * The top-level keys the stand-in carries out (the last two it may ignore); anything else (packages,
 * bootcmd, hostname, root's ssh_authorized_keys, ...) is refused rather than skipped, and so are the image's
 * default user and `post: all` (the defaults when `users` or `post` is left out): only a container machine
 * runs the real cloud-init.
 */
const MODELLED_KEYS = new Set([
  ...["users", "write_files", "runcmd", "phone_home"],
  ...["manage_etc_hosts", "final_message"],
]);
const NAMED_USERS_ONLY =
  "the stand-in machine creates only users listed by name, not the image's default user";

const stringOrList = z.union([z.string(), z.array(z.string())]);

const userSchema = z.object(
  {
    name: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a POSIX user name"),
    gecos: z.string().optional(),
    homedir: z.string().startsWith("/").optional(),
    shell: z.string().startsWith("/").optional(),
    groups: stringOrList.optional(),
    sudo: z.union([stringOrList, z.literal(false), z.null()]).optional(),
    ssh_authorized_keys: z.array(z.string()).optional(),
  },
  NAMED_USERS_ONLY,
);

const writeFileSchema = z.object({
  path: z.string().startsWith("/"),
  content: z.string().default(""),
  // Our user-data writes plain text only; b64 and gzip are refused, naming the field.
  encoding: z.literal("text/plain").default("text/plain"),
  permissions: z
    .union([z.string().regex(/^0?[0-7]{3,4}$/), z.number().int()])
    .default("0644")
    .transform((value) => (typeof value === "number" ? value.toString(8) : value)),
  defer: z.boolean().default(false),
});

const cloudConfigSchema = z.object({
  users: z.array(userSchema, NAMED_USERS_ONLY),
  write_files: z.array(writeFileSchema).default([]),
  runcmd: z.array(stringOrList).default([]),
  phone_home: z
    .object({
      url: z.string().refine((url) => URL.canParse(url), "must be an absolute URL"),
      post: z.array(
        z.enum(PHONE_HOME_FIELDS),
        "the stand-in machine posts only listed fields, not post: all",
      ),
      tries: z.number().int().positive().default(10),
    })
    .optional(),
});

export type CloudConfig = z.infer<typeof cloudConfigSchema>;
export type CloudWriteFile = CloudConfig["write_files"][number];
export type CloudPhoneHome = NonNullable<CloudConfig["phone_home"]>;

/** Parses `user_data` as cloud-init would: only `#cloud-config` documents are understood here. */
export function parseCloudConfig(userData: string): CloudConfig {
  if (!/^#cloud-config[ \t]*\r?\n/.test(userData)) {
    throw new MachineError("invalid_user_data", "user_data does not start with a '#cloud-config' line");
  }
  let document: unknown;
  try {
    document = parse(userData) ?? {};
  } catch (error) {
    throw new MachineError("invalid_user_data", `user_data is not valid YAML: ${(error as Error).message}`);
  }
  const keys = typeof document === "object" && document !== null ? Object.keys(document) : [];
  const unmodelled = keys.filter((key) => !MODELLED_KEYS.has(key));
  if (unmodelled.length > 0) {
    const named = unmodelled.join(", ");
    throw new MachineError(
      "invalid_user_data",
      `the stand-in machine does not carry out ${named}; boot a container machine for that`,
    );
  }
  const result = cloudConfigSchema.safeParse(document);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new MachineError(
      "invalid_user_data",
      `user_data is not a valid cloud-config: ${problems.join("; ")}`,
    );
  }
  return result.data;
}
