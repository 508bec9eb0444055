{#-
  The value of every property of every object as of the newest change loaded: the new value of
  the property's latest change, unless that change removed the property (a Delete) or the
  object was deleted (a Delete of the object as a whole, element N/A) at or after it.
-#}

with changes as (

    select * from {{ ref('int_lp_audittrail__object_changes') }}

),

latest as (

    select * from changes
    where is_field_change and is_latest_element_change

),

field_changes as (

    select
        object_type,
        object_name,
        element,
        count(*) as change_count,
        min(changed_at) as first_changed_at
    from changes
    where is_field_change
    group by object_type, object_name, element

),

object_deletions as (

    select
        object_type,
        object_name,
        max(changed_at) as deleted_at
    from changes
    where not is_field_change and action_type = 'Delete'
    group by object_type, object_name

),

newest as (

    select max(changed_at) as as_of from changes

),

valued as (

    select
        latest.*,
        case
            when object_deletions.deleted_at >= latest.changed_at then object_deletions.deleted_at
        end as object_deleted_at,
        field_changes.change_count,
        field_changes.first_changed_at
    from latest
    inner join field_changes
        on field_changes.object_type = latest.object_type
        and {{ lp_audittrail_null_safe_equal('field_changes.object_name', 'latest.object_name') }}
        and field_changes.element = latest.element
    left join object_deletions
        on object_deletions.object_type = latest.object_type
        and {{ lp_audittrail_null_safe_equal('object_deletions.object_name', 'latest.object_name') }}

)

select
    {{ lp_audittrail_key(['valued.object_type', 'valued.object_name', 'valued.element']) }} as current_value_id,
    valued.object_id,
    valued.object_type,
    valued.audited_element,
    valued.object_name,
    valued.element,
    case when valued.action_type = 'Delete' or valued.object_deleted_at is not null then null
        else valued.new_value end as current_value,
    coalesce(valued.action_type = 'Delete', false)
        or valued.object_deleted_at is not null as is_deleted,
    valued.object_deleted_at,
    valued.old_value as previous_value,
    valued.change_id as last_change_id,
    valued.action_type as last_action_type,
    valued.changed_at as last_changed_at,
    valued.originator as last_changed_by,
    valued.originator_login_name as last_changed_by_login_name,
    valued.first_changed_at,
    valued.change_count,
    newest.as_of
from valued
cross join newest
