{#-
  One row per change (`change_id`), whatever the loader: the columns found in any case, cast
  to one type each, named in snake_case; the copies an append-only or file load holds of a
  change (the same `id`, the same content) kept once.
-#}
{%- set relation = source('lp_audittrail', 'audit_trail') -%}
{%- set columns = lp_audittrail_source_columns(relation) -%}
{%- set text = dbt.type_string() -%}

with loaded as (

    select
        {{ lp_audittrail_column(columns, 'id', text) }} as change_id,
        {{ lp_audittrail_column(columns, 'accountId', text) }} as account_id,
        {{ lp_audittrail_column(columns, 'objectType', text) }} as object_type,
        {{ lp_audittrail_column(columns, 'objectName', text) }} as object_name,
        {{ lp_audittrail_column(columns, 'actionType', text) }} as action_type,
        {{ lp_audittrail_column(columns, 'element', text) }} as element,
        {{ lp_audittrail_column(columns, 'oldValue', text) }} as old_value,
        {{ lp_audittrail_column(columns, 'newValue', text) }} as new_value,
        {{ lp_audittrail_utc_timestamp(columns, 'changeDate') }} as changed_at,
        {{ lp_audittrail_column(columns, 'originator', text) }} as originator,
        {{ lp_audittrail_column(columns, 'originatorLoginName', text) }} as originator_login_name,
        {{ lp_audittrail_column(columns, 'originatorUserId', text) }} as originator_user_id,
        {{ lp_audittrail_column(columns, 'originatorUserAgent', text) }} as originator_user_agent,
        {{ lp_audittrail_column(columns, 'originatorAuthType', text) }} as originator_auth_type,
        {{ lp_audittrail_column(columns, 'originatorIsLpa', dbt.type_boolean()) }} as originator_is_lpa
    from {{ relation }}

),

numbered as (

    select
        loaded.*,
        row_number() over (partition by change_id order by changed_at) as copy_number
    from loaded

)

select
    change_id,
    account_id,
    object_type,
    {{ lp_audittrail_audited_element('object_type') }} as audited_element,
    object_name,
    action_type,
    element,
    element is not null and element <> 'N/A' as is_field_change,
    old_value,
    new_value,
    changed_at,
    cast(changed_at as date) as changed_on,
    originator,
    originator_login_name,
    originator_user_id,
    originator_user_agent,
    originator_auth_type,
    originator_is_lpa
from numbered
where copy_number = 1
